-- An item is identified by its source, its kind and its id: one source may number tickets and
-- satisfaction ratings (or deals and events) from the same sequence, and a rating must never
-- replace the ticket that shares its id. SQLite cannot change a table's unique constraint, so the
-- table is rebuilt; every row keeps its id and meaning.
CREATE TABLE items_v8 (
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
  UNIQUE (source, kind, external_id)
);
INSERT INTO items_v8 (id, source, external_id, kind, partner_id, status, priority, created_at, first_reply_at,
                      solved_at, updated_at, amount_minor, currency, payload)
  SELECT id, source, external_id, kind, partner_id, status, priority, created_at, first_reply_at, solved_at,
         updated_at, amount_minor, currency, payload FROM items;
DROP TABLE items;
ALTER TABLE items_v8 RENAME TO items;
CREATE INDEX items_partner_kind_created ON items (partner_id, kind, created_at);
