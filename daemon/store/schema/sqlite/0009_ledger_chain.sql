-- Tamper evidence for the ledger (docs/compensation.md, "The chain"). Each closed statement records
-- the SHA-256 of its document and the hash of the previous closed statement of its contract (a
-- chain per contract), with the contract version's canonical form and approvals as they were at
-- the close. Each audit entry chains to the entry before it. Rows written before this version are
-- chained by pactwatch in this migration's transaction, right after these statements: statements
-- in the order they were closed, audit entries in sequence order.
--
-- Immutability belongs to the schema, not to the code: every write form is refused. REPLACE and
-- INSERT OR REPLACE delete the row they replace without firing a DELETE trigger, so an insert of
-- a key (or a place in a chain) that exists is refused before conflict resolution runs.

DROP TRIGGER statements_no_update;
DROP TRIGGER statements_no_delete;
ALTER TABLE statements ADD COLUMN chain_seq INTEGER;
ALTER TABLE statements ADD COLUMN document_sha256 TEXT;
ALTER TABLE statements ADD COLUMN previous_sha256 TEXT;
ALTER TABLE statements ADD COLUMN chain_sha256 TEXT;
ALTER TABLE statements ADD COLUMN contract_canonical TEXT NOT NULL DEFAULT '';
ALTER TABLE statements ADD COLUMN approvals TEXT NOT NULL DEFAULT '';
CREATE INDEX statements_contract_chain ON statements (contract, chain_seq);

CREATE TRIGGER statements_insert_once BEFORE INSERT ON statements
WHEN NEW.chain_sha256 IS NULL OR NEW.chain_seq IS NULL
  OR EXISTS (SELECT 1 FROM statements
             WHERE contract = NEW.contract AND ((version = NEW.version AND period = NEW.period) OR chain_seq = NEW.chain_seq))
BEGIN
  SELECT RAISE(ABORT, 'closed statements are immutable');
END;

-- Only the migration's own chaining of older rows (chain_sha256 still empty) may update a row.
CREATE TRIGGER statements_no_update BEFORE UPDATE ON statements
WHEN OLD.chain_sha256 IS NOT NULL
BEGIN
  SELECT RAISE(ABORT, 'closed statements are immutable');
END;

CREATE TRIGGER statements_no_delete BEFORE DELETE ON statements
BEGIN
  SELECT RAISE(ABORT, 'closed statements are immutable');
END;

DROP TRIGGER audit_log_no_update;
DROP TRIGGER audit_log_no_delete;
ALTER TABLE audit_log ADD COLUMN previous_sha256 TEXT;
ALTER TABLE audit_log ADD COLUMN sha256 TEXT;

CREATE TRIGGER audit_log_insert_once BEFORE INSERT ON audit_log
WHEN NEW.sha256 IS NULL OR EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.seq)
BEGIN
  SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
WHEN OLD.sha256 IS NOT NULL
BEGIN
  SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'the audit log is append-only');
END;
