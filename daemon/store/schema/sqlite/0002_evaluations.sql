-- Evaluation results: the latest document per contract version and period, the status of each
-- rule in it, and the history of status changes (which drives notifications).
CREATE TABLE evaluations (
  contract     TEXT NOT NULL,
  version      INTEGER NOT NULL,
  period       TEXT NOT NULL,
  partner      TEXT NOT NULL,
  as_of        INTEGER NOT NULL,
  evaluated_at INTEGER NOT NULL,
  input_digest TEXT NOT NULL,
  document     TEXT NOT NULL,
  PRIMARY KEY (contract, version, period)
);
CREATE INDEX evaluations_partner_period ON evaluations (partner, period);

CREATE TABLE rule_statuses (
  contract TEXT NOT NULL,
  version  INTEGER NOT NULL,
  period   TEXT NOT NULL,
  rule     TEXT NOT NULL,
  status   TEXT NOT NULL,
  since    INTEGER NOT NULL,
  PRIMARY KEY (contract, version, period, rule)
);

CREATE TABLE status_changes (
  id          INTEGER PRIMARY KEY,
  contract    TEXT NOT NULL,
  version     INTEGER NOT NULL,
  period      TEXT NOT NULL,
  partner     TEXT NOT NULL,
  rule        TEXT NOT NULL,
  from_status TEXT,
  to_status   TEXT NOT NULL,
  at          INTEGER NOT NULL
);
CREATE INDEX status_changes_contract ON status_changes (contract, version, period);
