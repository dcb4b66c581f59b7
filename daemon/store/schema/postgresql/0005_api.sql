-- API tokens and the audit log. A token is shown once, when it is created; only its SHA-256 is
-- kept, so a copy of the database does not hand out access. Revoking keeps the row (who had
-- access, and until when, stays on record).
CREATE TABLE api_tokens (
  id          TEXT PRIMARY KEY,
  sha256      TEXT NOT NULL UNIQUE,
  name        TEXT NOT NULL,
  role        TEXT NOT NULL,
  partner     TEXT,
  created_at  BIGINT NOT NULL,
  expires_at  BIGINT,
  revoked_at  BIGINT
);
CREATE INDEX api_tokens_partner ON api_tokens (partner);

-- What finance and admins did through the API (and token changes from the CLI): append-only.
CREATE TABLE audit_log (
  seq        BIGSERIAL PRIMARY KEY,
  at         BIGINT NOT NULL,
  actor      TEXT NOT NULL,
  role       TEXT NOT NULL,
  action     TEXT NOT NULL,
  target     TEXT NOT NULL,
  outcome    TEXT NOT NULL
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS
  'BEGIN RAISE EXCEPTION ''the audit log is append-only''; END';
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
