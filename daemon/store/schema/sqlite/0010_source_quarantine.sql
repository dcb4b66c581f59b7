-- Records a source could not map into items (an amount with more decimals than its currency, a
-- value the item shape refuses): kept aside with the reason, so the records after them are stored
-- and the source's cursor moves on (docs/connectors.md, "Quarantine"). Keyed like items, by
-- (source, kind, external id); a record that maps on a later read becomes an item and leaves here.
-- Instants are integer milliseconds since the Unix epoch (UTC).
CREATE TABLE source_quarantine (
  source      TEXT NOT NULL,
  kind        TEXT NOT NULL,
  external_id TEXT NOT NULL,
  reason      TEXT NOT NULL,
  record      TEXT NOT NULL,
  first_seen  INTEGER NOT NULL,
  last_seen   INTEGER NOT NULL,
  seen        INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (source, kind, external_id)
);
