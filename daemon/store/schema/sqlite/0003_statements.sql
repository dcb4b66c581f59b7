-- Closed statements: the money of a contract version and period, frozen at period close. A row is
-- written once and never changed: late data becomes adjustment lines in a later period.
CREATE TABLE statements (
  contract        TEXT NOT NULL,
  version         INTEGER NOT NULL,
  period          TEXT NOT NULL,
  partner         TEXT NOT NULL,
  period_start    INTEGER NOT NULL,
  currency        TEXT NOT NULL,
  own_minor       INTEGER NOT NULL,
  total_minor     INTEGER NOT NULL,
  carry_out_minor INTEGER NOT NULL,
  contract_sha256 TEXT NOT NULL,
  input_digest    TEXT NOT NULL,
  engine_version  TEXT NOT NULL,
  as_of           INTEGER NOT NULL,
  closed_at       INTEGER NOT NULL,
  closed_by       TEXT NOT NULL,
  document        TEXT NOT NULL,
  PRIMARY KEY (contract, version, period)
);
CREATE INDEX statements_partner_period ON statements (partner, period);
CREATE INDEX statements_contract_start ON statements (contract, period_start);

CREATE TRIGGER statements_no_update BEFORE UPDATE ON statements
BEGIN
  SELECT RAISE(ABORT, 'closed statements are immutable');
END;

CREATE TRIGGER statements_no_delete BEFORE DELETE ON statements
BEGIN
  SELECT RAISE(ABORT, 'closed statements are immutable');
END;
