-- The outbox: notification events written in the same transaction as the status change (or the
-- period close) that causes them, and their delivery to each configured channel. An event's id is
-- stable, so receivers can deduplicate deliveries that arrive more than once.
CREATE TABLE outbox (
  id          TEXT PRIMARY KEY,
  type        TEXT NOT NULL,
  partner     TEXT NOT NULL,
  contract    TEXT NOT NULL,
  version     INTEGER NOT NULL,
  period      TEXT NOT NULL,
  subject     TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  payload     TEXT NOT NULL
);
CREATE INDEX outbox_created ON outbox (created_at);

CREATE TABLE deliveries (
  event_id        TEXT NOT NULL,
  channel         TEXT NOT NULL,
  status          TEXT NOT NULL,
  attempts        INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  last_error      TEXT,
  delivered_at    INTEGER,
  PRIMARY KEY (event_id, channel)
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
