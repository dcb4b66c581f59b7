// The sources repository: pages stored with their quarantine and cursor in one transaction, and
// the cursors themselves.
#include "pactwatch/store/sources.h"

#include <soci/soci.h>

#include <map>
#include <set>
#include <tuple>

#include "store_internal.h"

namespace pactwatch::store {

UpsertCounts Sources::store_page(const std::string& source, std::span<const Item> items, const std::string& cursor,
                                 core::Instant now, const LeaseGuard* guard) {
  PageWrite write;
  write.guard = guard;
  return store_page(source, items, cursor, now, write);
}

UpsertCounts Sources::store_page(const std::string& source, std::span<const Item> items, const std::string& cursor,
                                 core::Instant now, const PageWrite& write) {
  return db_.wrap("page store", [&] {
    Transaction tx(db_, Durability::normal);
    if (write.guard) check_lease_in(tx, *write.guard, "the page was not stored");
    auto counts = upsert_items_in(tx, items, write.abort);
    set_cursor_in(tx, source, cursor, now);
    record_intents_in(tx, write.intents, now);
    if (write.abort && write.abort->load()) throw WriteAbandoned("abandoned, nothing of it stored: the daemon is stopping");
    tx.commit();
    return counts;
  });
}

// --- cursors -------------------------------------------------------------------------------

void set_cursor_in(Transaction& tx, const std::string& source, const std::string& cursor,
                   core::Instant now) {
  soci::session& sql = tx.sql();
  const long long at = core::to_unix_ms(now);
  sql << "INSERT INTO source_cursors (source, cursor, updated_at) VALUES (:s, :c, :at) "
         "ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
      soci::use(source), soci::use(cursor), soci::use(at);
}

void Sources::set_cursor(const std::string& source, const std::string& cursor, core::Instant now) {
  db_.wrap("cursor update", [&] {
    Transaction tx(db_, Durability::normal);
    set_cursor_in(tx, source, cursor, now);
    tx.commit();
  });
}

std::optional<std::string> Sources::cursor(const std::string& source) {
  return db_.wrap("cursor lookup", [&]() -> std::optional<std::string> {
    Lease l(db_);
    std::string c;
    l.sql() << "SELECT cursor FROM source_cursors WHERE source = :s", soci::use(source), soci::into(c);
    if (!l.sql().got_data()) return std::nullopt;
    return c;
  });
}

// --- sources: pages with their quarantine, and deliberate cursor moves ------------------------
// Kept apart from the item functions above: these only call upsert_items_in, set_cursor_in,
// record_intents_in and check_lease_in, whatever the items' identity.

SourcePageCounts Sources::store_page(const SourcePage& page, core::Instant now, const LeaseGuard* guard) {
  PageWrite write;
  write.guard = guard;
  return store_page(page, now, write);
}

SourcePageCounts Sources::store_page(const SourcePage& page, core::Instant now, const PageWrite& write) {
  return db_.wrap("page store", [&] {
    Transaction tx(db_, Durability::normal);
    soci::session& sql = tx.sql();
    if (write.guard) check_lease_in(tx, *write.guard, "the page was not stored");
    SourcePageCounts out;
    const auto counts = upsert_items_in(tx, page.items, write.abort);
    out.written = counts.written;
    out.unchanged = counts.unchanged;
    const long long at = core::to_unix_ms(now);
    // The sources whose records this page concerns: usually one.
    std::set<std::string> sources;
    for (const auto& i : page.items) sources.insert(i.source);
    for (const auto& q : page.quarantined) sources.insert(q.source);
    // What is set aside already for them (usually nothing), to release records that now map and
    // to tell a record set aside again from a new one.
    std::map<std::tuple<std::string, std::string, std::string>, std::pair<std::string, std::string>> held;  // -> reason, record
    for (const auto& source : sources) {
      std::string kind, id, reason, record;
      soci::statement st = (sql.prepare << "SELECT kind, external_id, reason, record FROM source_quarantine WHERE source = :s",
                            soci::use(source, "s"), soci::into(kind), soci::into(id), soci::into(reason), soci::into(record));
      st.execute();
      while (st.fetch()) held[{source, kind, id}] = {reason, record};
    }
    if (!held.empty()) {
      for (const auto& i : page.items) {
        if (!held.contains({i.source, i.kind, i.external_id})) continue;
        sql << "DELETE FROM source_quarantine WHERE source = :s AND kind = :k AND external_id = :e", soci::use(i.source, "s"),
            soci::use(i.kind, "k"), soci::use(i.external_id, "e");
        held.erase({i.source, i.kind, i.external_id});
        ++out.released;
      }
    }
    for (const auto& q : page.quarantined) {
      const auto it = held.find({q.source, q.kind, q.external_id});
      const bool same = it != held.end() && it->second.first == q.reason && it->second.second == q.record;
      ++(same ? out.requarantined : out.quarantined);
      sql << "INSERT INTO source_quarantine (source, kind, external_id, reason, record, first_seen, last_seen, seen) "
             "VALUES (:s, :k, :e, :r, :d, :a, :a2, 1) "
             "ON CONFLICT (source, kind, external_id) DO UPDATE SET reason = excluded.reason, record = excluded.record, "
             "last_seen = excluded.last_seen, seen = source_quarantine.seen + 1",
          soci::use(q.source, "s"), soci::use(q.kind, "k"), soci::use(q.external_id, "e"), soci::use(q.reason, "r"),
          soci::use(q.record, "d"), soci::use(at, "a"), soci::use(at, "a2");
      held[{q.source, q.kind, q.external_id}] = {q.reason, q.record};
    }
    if (page.cursor) set_cursor_in(tx, page.cursor_key, *page.cursor, now);
    record_intents_in(tx, write.intents, now);
    if (write.abort && write.abort->load()) throw WriteAbandoned("abandoned, nothing of it stored: the daemon is stopping");
    tx.commit();
    return out;
  });
}

std::vector<QuarantinedRecord> Sources::quarantined(const std::optional<std::string>& source, std::size_t limit) {
  return db_.wrap("quarantine list", [&] {
    Lease l(db_);
    QuarantinedRecord q;
    long long first = 0, last = 0, seen = 0;
    const std::string only = source.value_or("");
    const int all = source ? 0 : 1;
    soci::statement st = (l.sql().prepare << "SELECT source, kind, external_id, reason, record, first_seen, last_seen, seen "
                                             "FROM source_quarantine WHERE (source = :s OR :all = 1) "
                                             "ORDER BY last_seen DESC, source, kind, external_id LIMIT " + std::to_string(limit),
                          soci::use(only, "s"), soci::use(all, "all"), soci::into(q.source), soci::into(q.kind),
                          soci::into(q.external_id), soci::into(q.reason), soci::into(q.record), soci::into(first),
                          soci::into(last), soci::into(seen));
    st.execute();
    std::vector<QuarantinedRecord> out;
    while (st.fetch()) {
      q.first_seen = core::from_unix_ms(first);
      q.last_seen = core::from_unix_ms(last);
      q.seen = seen;
      out.push_back(q);
    }
    return out;
  });
}

void Sources::move_cursor(const std::string& cursor_key, const std::string& cursor, core::Instant now, const AuditEntry& e,
                          const LeaseGuard* guard) {
  db_.wrap("cursor move", [&] {
    Transaction tx(db_, Durability::full);
    if (guard) check_lease_in(tx, *guard, "the cursor was not moved");
    set_cursor_in(tx, cursor_key, cursor, now);
    append_audit_in(tx, e);  // chained like every audit entry (docs/compensation.md, "The chain")
    tx.commit();
  });
}

}  // namespace pactwatch::store
