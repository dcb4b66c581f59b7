-- Partners, items and source cursors. Instants are integer milliseconds since the Unix epoch (UTC).
CREATE TABLE partners (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  kind       TEXT NOT NULL,
  tier       TEXT NOT NULL DEFAULT '',
  active     INTEGER NOT NULL DEFAULT 1,
  updated_at INTEGER NOT NULL
);

CREATE TABLE items (
  id             INTEGER PRIMARY KEY,
  source         TEXT NOT NULL,
  external_id    TEXT NOT NULL,
  kind           TEXT NOT NULL CHECK (kind IN ('tickets', 'deals', 'surveys', 'events')),
  partner_id     TEXT,
  status         TEXT NOT NULL DEFAULT '',
  priority       TEXT NOT NULL DEFAULT '',
  created_at     INTEGER,
  first_reply_at INTEGER,
  solved_at      INTEGER,
  updated_at     INTEGER NOT NULL,
  amount_minor   INTEGER,
  currency       TEXT NOT NULL DEFAULT '',
  payload        TEXT NOT NULL DEFAULT '{}',
  UNIQUE (source, external_id)
);
CREATE INDEX items_partner_kind_created ON items (partner_id, kind, created_at);

CREATE TABLE source_cursors (
  source     TEXT PRIMARY KEY,
  cursor     TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
