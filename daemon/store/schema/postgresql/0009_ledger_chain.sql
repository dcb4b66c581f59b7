-- Tamper evidence for the ledger (docs/compensation.md, "The chain"). Each closed statement records
-- the SHA-256 of its document and the hash of the previous closed statement of its contract (a
-- chain per contract), with the contract version's canonical form and approvals as they were at
-- the close. Each audit entry chains to the entry before it. Rows written before this version are
-- chained by pactwatch in this migration's transaction, right after these statements: statements
-- in the order they were closed, audit entries in sequence order.
--
-- Immutability belongs to the schema, not to the code: every write form is refused. An upsert
-- (INSERT ... ON CONFLICT DO UPDATE) and MERGE fire the row triggers below; TRUNCATE fires no row
-- trigger, so it has a statement trigger of its own.

DROP TRIGGER statements_no_change ON statements;
ALTER TABLE statements
  ADD COLUMN chain_seq BIGINT,
  ADD COLUMN document_sha256 TEXT,
  ADD COLUMN previous_sha256 TEXT,
  ADD COLUMN chain_sha256 TEXT,
  ADD COLUMN contract_canonical TEXT NOT NULL DEFAULT '',
  ADD COLUMN approvals TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX statements_contract_chain ON statements (contract, chain_seq);

-- Only the migration's own chaining of older rows (chain_sha256 still empty) may update a row.
CREATE OR REPLACE FUNCTION statements_immutable() RETURNS trigger LANGUAGE plpgsql AS
  'BEGIN
     IF TG_OP = ''UPDATE'' AND OLD.chain_sha256 IS NULL THEN RETURN NEW; END IF;
     RAISE EXCEPTION ''closed statements are immutable'';
   END';
CREATE TRIGGER statements_no_change BEFORE UPDATE OR DELETE ON statements
  FOR EACH ROW EXECUTE FUNCTION statements_immutable();

CREATE FUNCTION statements_chained() RETURNS trigger LANGUAGE plpgsql AS
  'BEGIN
     IF NEW.chain_sha256 IS NULL OR NEW.chain_seq IS NULL THEN
       RAISE EXCEPTION ''closed statements are immutable: a statement is inserted with its place in the chain'';
     END IF;
     RETURN NEW;
   END';
CREATE TRIGGER statements_chained BEFORE INSERT ON statements
  FOR EACH ROW EXECUTE FUNCTION statements_chained();

CREATE FUNCTION statements_no_truncate() RETURNS trigger LANGUAGE plpgsql AS
  'BEGIN RAISE EXCEPTION ''closed statements are immutable''; END';
CREATE TRIGGER statements_no_truncate BEFORE TRUNCATE ON statements
  FOR EACH STATEMENT EXECUTE FUNCTION statements_no_truncate();

DROP TRIGGER audit_log_no_change ON audit_log;
ALTER TABLE audit_log
  ADD COLUMN previous_sha256 TEXT,
  ADD COLUMN sha256 TEXT;

CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS
  'BEGIN
     IF TG_OP = ''UPDATE'' AND OLD.sha256 IS NULL THEN RETURN NEW; END IF;
     RAISE EXCEPTION ''the audit log is append-only'';
   END';
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE FUNCTION audit_log_chained() RETURNS trigger LANGUAGE plpgsql AS
  'BEGIN
     IF NEW.sha256 IS NULL THEN RAISE EXCEPTION ''the audit log is append-only: an entry is inserted chained''; END IF;
     RETURN NEW;
   END';
CREATE TRIGGER audit_log_chained BEFORE INSERT ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_chained();

CREATE FUNCTION audit_log_no_truncate() RETURNS trigger LANGUAGE plpgsql AS
  'BEGIN RAISE EXCEPTION ''the audit log is append-only''; END';
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_no_truncate();
