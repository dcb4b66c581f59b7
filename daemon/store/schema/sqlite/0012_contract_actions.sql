-- The acts of the brand and the partner on contract versions (propose, approve, reject,
-- request_changes, withdraw, comment): who did what to which exact content, when, and why.
-- Append-only: an approval, once recorded, is a fact (docs/rules.md, "From proposal to
-- enforcement").
CREATE TABLE contract_actions (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,
  contract    TEXT NOT NULL,
  version     INTEGER NOT NULL,
  sha256      TEXT NOT NULL,
  party       TEXT NOT NULL CHECK (party IN ('brand', 'partner')),
  act         TEXT NOT NULL CHECK (act IN ('propose', 'approve', 'reject', 'request_changes', 'withdraw', 'comment')),
  actor       TEXT NOT NULL,
  actor_name  TEXT NOT NULL,
  at          INTEGER NOT NULL,
  comment     TEXT NOT NULL
);
CREATE INDEX contract_actions_contract ON contract_actions (contract, version, seq);
CREATE TRIGGER contract_actions_no_update BEFORE UPDATE ON contract_actions
BEGIN
  SELECT RAISE(ABORT, 'contract actions are append-only');
END;
CREATE TRIGGER contract_actions_no_delete BEFORE DELETE ON contract_actions
BEGIN
  SELECT RAISE(ABORT, 'contract actions are append-only');
END;
