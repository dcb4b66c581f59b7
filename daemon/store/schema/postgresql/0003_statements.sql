-- Closed statements: the money of a contract version and period, frozen at period close. A row is
-- written once and never changed: late data becomes adjustment lines in a later period.
CREATE TABLE statements (
  contract        TEXT NOT NULL,
  version         INTEGER NOT NULL,
  period          TEXT NOT NULL,
  partner         TEXT NOT NULL,
  period_start    BIGINT NOT NULL,
  currency        TEXT NOT NULL,
  own_minor       BIGINT NOT NULL,
  total_minor     BIGINT NOT NULL,
  carry_out_minor BIGINT NOT NULL,
  contract_sha256 TEXT NOT NULL,
  input_digest    TEXT NOT NULL,
  engine_version  TEXT NOT NULL,
  as_of           BIGINT NOT NULL,
  closed_at       BIGINT NOT NULL,
  closed_by       TEXT NOT NULL,
  document        TEXT NOT NULL,
  PRIMARY KEY (contract, version, period)
);
CREATE INDEX statements_partner_period ON statements (partner, period);
CREATE INDEX statements_contract_start ON statements (contract, period_start);

CREATE FUNCTION statements_immutable() RETURNS trigger LANGUAGE plpgsql AS
  'BEGIN RAISE EXCEPTION ''closed statements are immutable''; END';

CREATE TRIGGER statements_no_change BEFORE UPDATE OR DELETE ON statements
  FOR EACH ROW EXECUTE FUNCTION statements_immutable();
