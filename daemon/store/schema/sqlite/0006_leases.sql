-- Leases: work that one instance at a time may do (polling a source, evaluating a partner) when
-- several pactwatch instances share this database. A lease is held until expires_at; its holder
-- renews it, and any instance may take it over once it has expired. The fence grows by one each
-- time the lease changes hands, so a former holder can tell it has lost it.
CREATE TABLE leases (
  name        TEXT PRIMARY KEY,
  holder      TEXT NOT NULL,
  expires_at  INTEGER NOT NULL,
  fence       INTEGER NOT NULL
);
