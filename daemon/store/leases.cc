// The leases repository.
#include "pactwatch/store/leases.h"

#include <soci/soci.h>

#include "queries.h"
#include "store_internal.h"

namespace pactwatch::store {

void check_lease_in(Transaction& tx, const LeaseGuard& guard, const char* consequence) {
  soci::session& sql = tx.sql();
  // SQLite's transaction holds the write lock already (BEGIN IMMEDIATE); PostgreSQL locks the
  // lease row, so a takeover waits for this transaction to commit.
  std::string holder;
  long long fence = 0;
  sql << std::string("SELECT holder, fence FROM leases WHERE name = :n") + dialect(tx.database().backend()).lock_read_row,
      soci::use(guard.name, "n"), soci::into(holder), soci::into(fence);
  if (!sql.got_data() || holder != guard.holder || fence != guard.fence) {
    throw LeaseLost("lease " + guard.name + " has passed to " + (holder.empty() ? std::string("nobody") : holder) + "; " +
                    consequence);
  }
}

std::optional<std::int64_t> Leases::claim(const std::string& name, const std::string& holder, core::Instant now,
                                          std::chrono::milliseconds ttl) {
  return db_.wrap("lease claim", [&]() -> std::optional<std::int64_t> {
    Transaction tx(db_, Durability::normal);
    const long long at = core::to_unix_ms(now), until = core::to_unix_ms(now + ttl);
    long long fence = 0;
    soci::indicator ind = soci::i_null;
    // One statement: insert a new lease, or take over an expired one (a new fence), or renew
    // one's own (the same fence); a running lease of another holder is left as it is and
    // nothing is returned.
    tx.sql() << "INSERT INTO leases (name, holder, expires_at, fence) VALUES (:n, :h, :u, 1) "
                "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, "
                "fence = CASE WHEN leases.holder = excluded.holder THEN leases.fence ELSE leases.fence + 1 END "
                "WHERE leases.holder = excluded.holder OR leases.expires_at <= :a RETURNING fence",
        soci::use(name, "n"), soci::use(holder, "h"), soci::use(until, "u"), soci::use(at, "a"), soci::into(fence, ind);
    const bool held = tx.sql().got_data() && ind == soci::i_ok;  // read before COMMIT resets it
    tx.commit();
    if (!held) return std::nullopt;
    return static_cast<std::int64_t>(fence);
  });
}

bool Leases::release(const std::string& name, const std::string& holder) {
  return db_.wrap("lease release", [&] {
    Transaction tx(db_, Durability::normal);
    soci::statement st = (tx.sql().prepare << "UPDATE leases SET expires_at = 0 WHERE name = :n AND holder = :h",
                          soci::use(name, "n"), soci::use(holder, "h"));
    st.execute(true);
    const bool released = st.get_affected_rows() > 0;
    tx.commit();
    return released;
  });
}

std::vector<LeaseRecord> Leases::all() {
  return db_.wrap("lease list", [&] {
    Lease l(db_);
    LeaseRecord r;
    long long until = 0, fence = 0;
    soci::statement st = (l.sql().prepare << "SELECT name, holder, expires_at, fence FROM leases ORDER BY name", soci::into(r.name),
                          soci::into(r.holder), soci::into(until), soci::into(fence));
    st.execute();
    std::vector<LeaseRecord> out;
    while (st.fetch()) {
      r.expires_at = core::from_unix_ms(until);
      r.fence = fence;
      out.push_back(r);
    }
    return out;
  });
}

}  // namespace pactwatch::store
