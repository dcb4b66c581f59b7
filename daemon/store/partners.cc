// The partners repository.
#include "pactwatch/store/partners.h"

#include <soci/soci.h>

#include "store_internal.h"

namespace pactwatch::store {

// --- partners ------------------------------------------------------------------------------

void Partners::sync(std::span<const Partner> partners, core::Instant now) {
  db_.wrap("partner sync", [&] {
    Transaction tx(db_, Durability::normal);
    soci::session& sql = tx.sql();
    const long long at = core::to_unix_ms(now);
    sql << "UPDATE partners SET active = 0, updated_at = :at WHERE active = 1", soci::use(at);
    std::string id, name, kind, tier;
    soci::statement st = (sql.prepare << "INSERT INTO partners (id, name, kind, tier, active, updated_at) "
                                         "VALUES (:id, :name, :kind, :tier, 1, :at) "
                                         "ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, "
                                         "tier = excluded.tier, active = 1, updated_at = excluded.updated_at",
                          soci::use(id), soci::use(name), soci::use(kind), soci::use(tier), soci::use(at));
    for (const auto& p : partners) {
      id = p.id;
      name = p.name;
      kind = p.kind;
      tier = p.tier;
      st.execute(true);
    }
    tx.commit();
  });
}

std::vector<Partner> Partners::all() {
  return db_.wrap("partner list", [&] {
    Lease l(db_);
    std::vector<Partner> out;
    soci::rowset<soci::row> rows = (l.sql().prepare << "SELECT id, name, kind, tier, active FROM partners ORDER BY id");
    for (const auto& r : rows) {
      out.push_back({r.get<std::string>(0), r.get<std::string>(1), r.get<std::string>(2), r.get<std::string>(3),
                     r.get<int>(4) != 0});
    }
    return out;
  });
}

}  // namespace pactwatch::store
