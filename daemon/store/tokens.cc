// The tokens repository: API tokens stored by hash.
#include "pactwatch/store/tokens.h"

#include <soci/soci.h>

#include "store_internal.h"

namespace pactwatch::store {

namespace {

struct TokenRow {
  ApiToken t;
  long long created = 0, expires = 0, revoked = 0;
  soci::indicator partner_ind = soci::i_ok, expires_ind = soci::i_ok, revoked_ind = soci::i_ok;
  static constexpr const char* kColumns =
      "SELECT id, sha256, name, role, partner, created_at, expires_at, revoked_at FROM api_tokens ";
  void bind(soci::details::prepare_temp_type& p) {
    p, soci::into(t.id), soci::into(t.sha256), soci::into(t.name), soci::into(t.role), soci::into(partner, partner_ind),
        soci::into(created), soci::into(expires, expires_ind), soci::into(revoked, revoked_ind);
  }
  std::string partner;
  [[nodiscard]] ApiToken get() const {
    ApiToken out = t;
    out.partner = partner_ind == soci::i_ok ? std::optional(partner) : std::nullopt;
    out.created_at = core::from_unix_ms(created);
    out.expires_at = opt_instant(expires, expires_ind);
    out.revoked_at = opt_instant(revoked, revoked_ind);
    return out;
  }
};

}  // namespace

void Tokens::create(const ApiToken& token, int max_live_per_partner, core::Instant now) {
  db_.wrap("token create", [&] {
    Transaction tx(db_, Durability::full);
    if (token.partner) {
      // Taken under the write lock of the insert's transaction: SQLite serializes writers; on
      // PostgreSQL the partner's rows are locked first so two creations cannot both pass.
      const long long at = core::to_unix_ms(now);
      std::string pid = *token.partner;
      if (db_.backend() == Backend::postgresql) {
        tx.sql() << "SELECT pg_advisory_xact_lock(hashtext('api_tokens:' || :p))", soci::use(pid, "p");
      }
      long long live = 0;
      tx.sql() << "SELECT count(*) FROM api_tokens WHERE partner = :p AND revoked_at IS NULL AND "
                  "(expires_at IS NULL OR expires_at > :a)",
          soci::use(pid, "p"), soci::use(at, "a"), soci::into(live);
      if (live >= max_live_per_partner) {
        throw TokenLimit("partner '" + pid + "' already holds " + std::to_string(live) +
                         " live token(s), the most allowed; revoke one first ('pactwatch token revoke ID')");
      }
    }
    soci::indicator partner_ind = soci::i_ok, expires_ind = soci::i_ok;
    std::string partner = token.partner.value_or("");
    partner_ind = token.partner ? soci::i_ok : soci::i_null;
    const long long created = core::to_unix_ms(token.created_at);
    const long long expires = ms_or(token.expires_at, expires_ind);
    tx.sql() << "INSERT INTO api_tokens (id, sha256, name, role, partner, created_at, expires_at) "
                "VALUES (:i, :h, :n, :r, :p, :c, :e)",
        soci::use(token.id, "i"), soci::use(token.sha256, "h"), soci::use(token.name, "n"), soci::use(token.role, "r"),
        soci::use(partner, partner_ind, "p"), soci::use(created, "c"), soci::use(expires, expires_ind, "e");
    tx.commit();
  });
}

std::optional<ApiToken> Tokens::by_hash(const std::string& sha256) {
  return db_.wrap("token lookup", [&]() -> std::optional<ApiToken> {
    Lease l(db_);
    TokenRow row;
    auto prep = (l.sql().prepare << std::string(TokenRow::kColumns) + "WHERE sha256 = :h");
    row.bind(prep);
    prep, soci::use(sha256, "h");
    soci::statement st(prep);
    st.execute();
    if (!st.fetch()) return std::nullopt;
    return row.get();
  });
}

std::vector<ApiToken> Tokens::all() {
  return db_.wrap("token list", [&] {
    Lease l(db_);
    TokenRow row;
    auto prep = (l.sql().prepare << std::string(TokenRow::kColumns) + "ORDER BY created_at, id");
    row.bind(prep);
    soci::statement st(prep);
    st.execute();
    std::vector<ApiToken> out;
    while (st.fetch()) out.push_back(row.get());
    return out;
  });
}

bool Tokens::revoke(const std::string& id, core::Instant now) {
  return db_.wrap("token revoke", [&] {
    Transaction tx(db_, Durability::full);
    const long long at = core::to_unix_ms(now);
    soci::statement st = (tx.sql().prepare << "UPDATE api_tokens SET revoked_at = :a WHERE id = :i AND revoked_at IS NULL",
                          soci::use(at, "a"), soci::use(id, "i"));
    st.execute(true);
    const bool changed = st.get_affected_rows() > 0;
    tx.commit();
    return changed;
  });
}

}  // namespace pactwatch::store
