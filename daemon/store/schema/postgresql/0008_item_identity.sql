-- An item is identified by its source, its kind and its id: one source may number tickets and
-- satisfaction ratings (or deals and events) from the same sequence, and a rating must never
-- replace the ticket that shares its id. Every row keeps its id and meaning.
ALTER TABLE items DROP CONSTRAINT items_source_external_id_key;
ALTER TABLE items ADD CONSTRAINT items_source_kind_external_id_key UNIQUE (source, kind, external_id);
