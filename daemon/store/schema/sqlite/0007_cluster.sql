-- Work divided between several instances sharing this database (see docs/scaling.md).
--
-- Partners are divided into shards (a stable hash of the partner id); each shard's evaluation is
-- owned by the instance holding the lease "shard:N". An instance that stores items of a partner it
-- does not own asks the owner here to evaluate the periods they touch. A request asked again
-- before it is done counts up its generation, so the owner deletes only what it evaluated.
CREATE TABLE evaluation_queue (
  contract     TEXT NOT NULL,
  version      INTEGER NOT NULL,
  period_start INTEGER NOT NULL,
  shard        INTEGER NOT NULL,
  partner      TEXT NOT NULL,
  generation   INTEGER NOT NULL,
  requested_at INTEGER NOT NULL,
  PRIMARY KEY (contract, version, period_start)
);
CREATE INDEX evaluation_queue_shard ON evaluation_queue (shard);

-- The evaluation work each owner stored, under which lease and fence, from when to when: written
-- in the transaction that stores the results, so only work done while the lease was held appears.
-- Kept for seven days.
CREATE TABLE work_log (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,
  lease       TEXT NOT NULL,
  holder      TEXT NOT NULL,
  fence       INTEGER NOT NULL,
  started_at  INTEGER NOT NULL,
  finished_at INTEGER NOT NULL,
  periods     INTEGER NOT NULL
);
CREATE INDEX work_log_lease ON work_log (lease, started_at);
CREATE INDEX work_log_started ON work_log (started_at);

-- Due deliveries are looked up per channel.
CREATE INDEX deliveries_channel_due ON deliveries (channel, status, next_attempt_at);

-- The API pages the outbox by (created_at, id).
CREATE INDEX outbox_created_id ON outbox (created_at, id);
