-- What each stored page touched, written in the page's own transaction: a partner, and an instant
-- at which one of the page's changed items counts (created, solved, closed, registered), in its
-- new or its replaced version. Whichever instance runs its evaluation queue next turns them into
-- requests for the periods they fall in (evaluation_queue) and deletes them, so evaluation work is
-- as durable as the data: a sync that stops or dies midway leaves it here. An intent touched again
-- before it is worked off counts up its generation, and is then kept for the next round.
CREATE TABLE evaluation_intents (
  partner     TEXT NOT NULL,
  at          INTEGER NOT NULL,
  generation  INTEGER NOT NULL,
  recorded_at INTEGER NOT NULL,
  PRIMARY KEY (partner, at)
);
CREATE INDEX evaluation_intents_recorded ON evaluation_intents (recorded_at);
