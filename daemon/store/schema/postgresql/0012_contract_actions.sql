-- The acts of the brand and the partner on contract versions (propose, approve, reject,
-- request_changes, withdraw, comment): who did what to which exact content, when, and why.
-- Append-only: an approval, once recorded, is a fact (docs/rules.md, "From proposal to
-- enforcement").
CREATE TABLE contract_actions (
  seq         BIGSERIAL PRIMARY KEY,
  contract    TEXT NOT NULL,
  version     INTEGER NOT NULL,
  sha256      TEXT NOT NULL,
  party       TEXT NOT NULL CHECK (party IN ('brand', 'partner')),
  act         TEXT NOT NULL CHECK (act IN ('propose', 'approve', 'reject', 'request_changes', 'withdraw', 'comment')),
  actor       TEXT NOT NULL,
  actor_name  TEXT NOT NULL,
  at          BIGINT NOT NULL,
  comment     TEXT NOT NULL
);
CREATE INDEX contract_actions_contract ON contract_actions (contract, version, seq);
CREATE FUNCTION contract_actions_append_only() RETURNS trigger LANGUAGE plpgsql AS
  'BEGIN RAISE EXCEPTION ''contract actions are append-only''; END';
CREATE TRIGGER contract_actions_no_change BEFORE UPDATE OR DELETE ON contract_actions
  FOR EACH ROW EXECUTE FUNCTION contract_actions_append_only();
CREATE TRIGGER contract_actions_no_truncate BEFORE TRUNCATE ON contract_actions
  FOR EACH STATEMENT EXECUTE FUNCTION contract_actions_append_only();
