-- A partner's disputes of its numbers and the acts on them (open, comment, accept, reject,
-- withdraw): what was disputed, under which category, who answered, when and why. Append-only,
-- like contract_actions: a dispute and each answer, once recorded, are facts (docs/disputes.md).
CREATE TABLE disputes (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  partner      TEXT NOT NULL,
  contract     TEXT NOT NULL,
  version      INTEGER NOT NULL,
  period       TEXT NOT NULL,
  rule         TEXT NOT NULL,
  item_source  TEXT NOT NULL,
  item_kind    TEXT NOT NULL,
  item_id      TEXT NOT NULL,
  category     TEXT NOT NULL CHECK (category IN ('misattributed', 'customer_caused', 'brand_caused', 'force_majeure', 'data_error', 'other')),
  opened_at    INTEGER NOT NULL
);
CREATE INDEX disputes_partner ON disputes (partner, contract, version, period);
CREATE TABLE dispute_actions (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,
  dispute     INTEGER NOT NULL REFERENCES disputes (id),
  act         TEXT NOT NULL CHECK (act IN ('open', 'comment', 'accept', 'reject', 'withdraw')),
  party       TEXT NOT NULL CHECK (party IN ('brand', 'partner')),
  actor       TEXT NOT NULL,
  actor_name  TEXT NOT NULL,
  at          INTEGER NOT NULL,
  comment     TEXT NOT NULL
);
CREATE INDEX dispute_actions_dispute ON dispute_actions (dispute, seq);
CREATE TRIGGER disputes_no_update BEFORE UPDATE ON disputes
BEGIN
  SELECT RAISE(ABORT, 'disputes are append-only');
END;
CREATE TRIGGER disputes_no_delete BEFORE DELETE ON disputes
BEGIN
  SELECT RAISE(ABORT, 'disputes are append-only');
END;
CREATE TRIGGER dispute_actions_no_update BEFORE UPDATE ON dispute_actions
BEGIN
  SELECT RAISE(ABORT, 'dispute actions are append-only');
END;
CREATE TRIGGER dispute_actions_no_delete BEFORE DELETE ON dispute_actions
BEGIN
  SELECT RAISE(ABORT, 'dispute actions are append-only');
END;
