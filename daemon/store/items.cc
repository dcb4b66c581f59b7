// The store's items, source cursors and source pages with their quarantine.
#include "pactwatch/store/store.h"

#include <soci/soci.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

#include "store_internal.h"

namespace pactwatch::store {

// --- items ---------------------------------------------------------------------------------

namespace {

constexpr const char* kUpsertColumns =
    "INSERT INTO items (source, external_id, kind, partner_id, status, priority, created_at, first_reply_at, "
    "solved_at, updated_at, amount_minor, currency, payload) VALUES ";
constexpr int kUpsertColumnCount = 13;
constexpr const char* kUpsertConflict =
    " ON CONFLICT (source, kind, external_id) DO UPDATE SET partner_id = excluded.partner_id, "
    "status = excluded.status, priority = excluded.priority, created_at = excluded.created_at, "
    "first_reply_at = excluded.first_reply_at, solved_at = excluded.solved_at, updated_at = excluded.updated_at, "
    "amount_minor = excluded.amount_minor, currency = excluded.currency, payload = excluded.payload "
    // An older version of a record (a retried or out-of-order page) never overwrites a newer one,
    // and an identical record writes nothing.
    "WHERE excluded.updated_at >= items.updated_at AND ("
    "items.partner_id IS DISTINCT FROM excluded.partner_id OR "
    "items.status IS DISTINCT FROM excluded.status OR items.priority IS DISTINCT FROM excluded.priority OR "
    "items.created_at IS DISTINCT FROM excluded.created_at OR "
    "items.first_reply_at IS DISTINCT FROM excluded.first_reply_at OR "
    "items.solved_at IS DISTINCT FROM excluded.solved_at OR items.updated_at IS DISTINCT FROM excluded.updated_at OR "
    "items.amount_minor IS DISTINCT FROM excluded.amount_minor OR items.currency IS DISTINCT FROM excluded.currency OR "
    "items.payload IS DISTINCT FROM excluded.payload)";

// Rows per INSERT (StoreOptions::upsert_batch): on PostgreSQL one statement and one round trip for
// a whole page; 13 parameters a row stays far below SQLite's 32,766 and PostgreSQL's 65,535.
constexpr std::size_t kMaxUpsertBatch = 2000;

// Between rows of a long write: a stop abandons it whole (its transaction rolls back).
void check_abort(const std::atomic<bool>* abort, std::size_t row) {
  if (abort && row % 256 == 0 && abort->load()) throw WriteAbandoned("abandoned, nothing of it stored: the daemon is stopping");
}

}  // namespace

UpsertCounts Store::upsert_items_in(soci::session& sql, std::span<const Item> items, const std::atomic<bool>* abort) {
  UpsertCounts counts;
  if (items.empty()) return counts;
  // One row per key in a statement (PostgreSQL refuses to update a row twice in one): the version
  // that applying them one by one would leave, the newest, the later of equals. The others count
  // as unchanged.
  std::vector<const Item*> batch;
  batch.reserve(items.size());
  std::unordered_map<std::string, std::size_t> slot;
  for (const auto& item : items) {
    auto [it, fresh] = slot.try_emplace(item.source + '\x1f' + item.kind + '\x1f' + item.external_id, batch.size());
    if (fresh) {
      batch.push_back(&item);
      continue;
    }
    ++counts.unchanged;
    if (item.updated_at >= batch[it->second]->updated_at) batch[it->second] = &item;
  }
  const std::size_t rows = std::clamp<std::size_t>(upsert_batch_, 1, kMaxUpsertBatch);
  if (rows == 1) {
    // One statement, prepared once, executed per item.
    Item row;
    long long created = 0, first_reply = 0, solved = 0, updated = 0, amount = 0;
    std::string partner;
    soci::indicator partner_ind = soci::i_ok, created_ind = soci::i_ok, first_reply_ind = soci::i_ok,
                    solved_ind = soci::i_ok, amount_ind = soci::i_ok;
    std::string query = kUpsertColumns;
    query += "(:p0,:p1,:p2,:p3,:p4,:p5,:p6,:p7,:p8,:p9,:p10,:p11,:p12)";
    query += kUpsertConflict;
    soci::statement st =
        (sql.prepare << query, soci::use(row.source), soci::use(row.external_id), soci::use(row.kind),
         soci::use(partner, partner_ind), soci::use(row.status), soci::use(row.priority), soci::use(created, created_ind),
         soci::use(first_reply, first_reply_ind), soci::use(solved, solved_ind), soci::use(updated),
         soci::use(amount, amount_ind), soci::use(row.currency), soci::use(row.payload));
    std::size_t done = 0;
    for (const Item* item : batch) {
      check_abort(abort, done++);
      row = *item;
      partner = item->partner_id.value_or("");
      partner_ind = item->partner_id ? soci::i_ok : soci::i_null;
      created = ms_or(item->created_at, created_ind);
      first_reply = ms_or(item->first_reply_at, first_reply_ind);
      solved = ms_or(item->solved_at, solved_ind);
      updated = core::to_unix_ms(item->updated_at);
      amount = item->amount_minor.value_or(0);
      amount_ind = item->amount_minor ? soci::i_ok : soci::i_null;
      st.execute(true);
      if (st.get_affected_rows() > 0) ++counts.written;
      else ++counts.unchanged;
    }
    return counts;
  }
  for (std::size_t offset = 0; offset < batch.size(); offset += rows) {
    check_abort(abort, 0);
    const std::size_t n = std::min(rows, batch.size() - offset);
    // Bound values must stay put until the statement ran: one slot per row and column.
    std::vector<std::string> text(n * 8);  // source, external_id, kind, partner, status, priority, currency, payload
    std::vector<long long> number(n * 5);  // created, first reply, solved, updated, amount
    std::vector<soci::indicator> ind(n * kUpsertColumnCount, soci::i_ok);
    std::string query = kUpsertColumns;
    soci::statement st(sql);
    int param = 0;
    for (std::size_t r = 0; r < n; ++r) {
      const Item& item = *batch[offset + r];
      std::string* t = &text[r * 8];
      long long* v = &number[r * 5];
      soci::indicator* in = &ind[r * kUpsertColumnCount];
      t[0] = item.source;
      t[1] = item.external_id;
      t[2] = item.kind;
      t[3] = item.partner_id.value_or("");
      in[3] = item.partner_id ? soci::i_ok : soci::i_null;
      t[4] = item.status;
      t[5] = item.priority;
      v[0] = ms_or(item.created_at, in[6]);
      v[1] = ms_or(item.first_reply_at, in[7]);
      v[2] = ms_or(item.solved_at, in[8]);
      v[3] = core::to_unix_ms(item.updated_at);
      v[4] = item.amount_minor.value_or(0);
      in[10] = item.amount_minor ? soci::i_ok : soci::i_null;
      t[6] = item.currency;
      t[7] = item.payload;
      query += r ? ",(" : "(";
      for (int c = 0; c < kUpsertColumnCount; ++c) query += (c ? ",:p" : ":p") + std::to_string(param++);
      query += ')';
      // In column order (positional binding).
      st.exchange(soci::use(t[0], in[0]));
      st.exchange(soci::use(t[1], in[1]));
      st.exchange(soci::use(t[2], in[2]));
      st.exchange(soci::use(t[3], in[3]));
      st.exchange(soci::use(t[4], in[4]));
      st.exchange(soci::use(t[5], in[5]));
      st.exchange(soci::use(v[0], in[6]));
      st.exchange(soci::use(v[1], in[7]));
      st.exchange(soci::use(v[2], in[8]));
      st.exchange(soci::use(v[3], in[9]));
      st.exchange(soci::use(v[4], in[10]));
      st.exchange(soci::use(t[6], in[11]));
      st.exchange(soci::use(t[7], in[12]));
    }
    query += kUpsertConflict;
    st.alloc();
    st.prepare(query);
    st.define_and_bind();
    st.execute(true);
    const auto written = static_cast<std::int64_t>(st.get_affected_rows());
    counts.written += written;
    counts.unchanged += static_cast<std::int64_t>(n) - written;
  }
  return counts;
}

UpsertCounts Store::upsert_items(std::span<const Item> items) {
  return wrap("item upsert", [&] {
    Transaction tx(*this, Durability::normal);
    auto counts = upsert_items_in(tx.sql(), items);
    tx.commit();
    return counts;
  });
}

void Store::check_lease_in(soci::session& sql, const LeaseGuard& guard, const char* consequence) {
  // SQLite's transaction holds the write lock already (BEGIN IMMEDIATE); PostgreSQL locks the
  // lease row, so a takeover waits for this transaction to commit.
  std::string holder;
  long long fence = 0;
  sql << std::string("SELECT holder, fence FROM leases WHERE name = :n") + (backend_ == Backend::postgresql ? " FOR UPDATE" : ""),
      soci::use(guard.name, "n"), soci::into(holder), soci::into(fence);
  if (!sql.got_data() || holder != guard.holder || fence != guard.fence) {
    throw LeaseLost("lease " + guard.name + " has passed to " + (holder.empty() ? std::string("nobody") : holder) + "; " +
                    consequence);
  }
}

void Store::record_intents_in(soci::session& sql, std::span<const EvaluationIntent> intents, core::Instant now) {
  const long long recorded = core::to_unix_ms(now);
  for (const auto& i : intents) {
    std::string partner = i.partner;
    long long at = core::to_unix_ms(i.at);
    sql << "INSERT INTO evaluation_intents (partner, at, generation, recorded_at) VALUES (:p, :a, 1, :r) "
           "ON CONFLICT (partner, at) DO UPDATE SET generation = evaluation_intents.generation + 1",
        soci::use(partner), soci::use(at), soci::use(recorded);
  }
}

UpsertCounts Store::store_page(const std::string& source, std::span<const Item> items, const std::string& cursor,
                               core::Instant now, const LeaseGuard* guard) {
  PageWrite write;
  write.guard = guard;
  return store_page(source, items, cursor, now, write);
}

UpsertCounts Store::store_page(const std::string& source, std::span<const Item> items, const std::string& cursor,
                               core::Instant now, const PageWrite& write) {
  return wrap("page store", [&] {
    Transaction tx(*this, Durability::normal);
    if (write.guard) check_lease_in(tx.sql(), *write.guard, "the page was not stored");
    auto counts = upsert_items_in(tx.sql(), items, write.abort);
    set_cursor_in(tx.sql(), source, cursor, now);
    record_intents_in(tx.sql(), write.intents, now);
    if (write.abort && write.abort->load()) throw WriteAbandoned("abandoned, nothing of it stored: the daemon is stopping");
    tx.commit();
    return counts;
  });
}

std::optional<Item> Store::find_item(const std::string& source, const std::string& kind, const std::string& external_id) {
  return wrap("item lookup", [&]() -> std::optional<Item> {
    Lease l(*pool_, setup_);
    Item item;
    long long created = 0, first_reply = 0, solved = 0, updated = 0, amount = 0;
    soci::indicator partner_ind = soci::i_ok, created_ind = soci::i_ok, first_reply_ind = soci::i_ok,
                    solved_ind = soci::i_ok, amount_ind = soci::i_ok;
    std::string partner_id;
    l.sql() << std::string("SELECT source, external_id, kind, partner_id, status, priority, created_at, first_reply_at, "
                           "solved_at, updated_at, amount_minor, currency, payload FROM items ") + kItemByKeyWhere,
        soci::into(item.source), soci::into(item.external_id), soci::into(item.kind), soci::into(partner_id, partner_ind),
        soci::into(item.status), soci::into(item.priority), soci::into(created, created_ind),
        soci::into(first_reply, first_reply_ind), soci::into(solved, solved_ind), soci::into(updated),
        soci::into(amount, amount_ind), soci::into(item.currency), soci::into(item.payload), soci::use(source, "source"),
        soci::use(kind, "kind"), soci::use(external_id, "external_id");
    if (!l.sql().got_data()) return std::nullopt;
    if (partner_ind == soci::i_ok) item.partner_id = partner_id;
    item.created_at = opt_instant(created, created_ind);
    item.first_reply_at = opt_instant(first_reply, first_reply_ind);
    item.solved_at = opt_instant(solved, solved_ind);
    item.updated_at = core::from_unix_ms(updated);
    if (amount_ind == soci::i_ok) item.amount_minor = amount;
    return item;
  });
}

namespace {

// One row of `items`, bound through explicit long long variables (SOCI's dynamic rows type SQLite
// INTEGER columns as int).
struct ItemRow {
  Item item;
  std::string partner;
  long long created = 0, first_reply = 0, solved = 0, updated = 0, amount = 0;
  soci::indicator partner_ind = soci::i_ok, created_ind = soci::i_ok, first_reply_ind = soci::i_ok,
                  solved_ind = soci::i_ok, amount_ind = soci::i_ok;

  static constexpr const char* kColumns = kItemColumns;

  void bind(soci::details::prepare_temp_type& p) {
    p, soci::into(item.source), soci::into(item.external_id), soci::into(item.kind), soci::into(partner, partner_ind),
        soci::into(item.status), soci::into(item.priority), soci::into(created, created_ind),
        soci::into(first_reply, first_reply_ind), soci::into(solved, solved_ind), soci::into(updated),
        soci::into(amount, amount_ind), soci::into(item.currency), soci::into(item.payload);
  }

  [[nodiscard]] Item get() const {
    Item row = item;
    row.partner_id = partner_ind == soci::i_ok ? std::optional<std::string>(partner) : std::nullopt;
    row.created_at = opt_instant(created, created_ind);
    row.first_reply_at = opt_instant(first_reply, first_reply_ind);
    row.solved_at = opt_instant(solved, solved_ind);
    row.updated_at = core::from_unix_ms(updated);
    row.amount_minor = amount_ind == soci::i_ok ? std::optional<std::int64_t>(amount) : std::nullopt;
    return row;
  }
};

std::vector<Item> fetch_all(soci::statement& st, const ItemRow& row) {
  std::vector<Item> out;
  st.execute();
  while (st.fetch()) out.push_back(row.get());
  return out;
}

}  // namespace

// Ids per statement of find_items: one round trip per 500 records of a page; 502 parameters stay
// far below SQLite's 32,766 and PostgreSQL's 65,535.
constexpr std::size_t kFindBatch = 500;

// The statement of find_items for `n` ids: the same text serves SQLite and PostgreSQL (a list of
// bound ids, read through the (source, kind, external_id) key like find_item's kItemByKeyWhere).
std::string items_by_keys_query(std::size_t n) {
  std::string query = std::string(kItemColumns) + "WHERE source = :source AND kind = :kind AND external_id IN (";
  for (std::size_t i = 0; i < n; ++i) query += (i ? ",:i" : ":i") + std::to_string(i);
  return query + ')';
}

std::vector<std::optional<Item>> Store::find_items(const std::string& source, const std::string& kind,
                                                   std::span<const std::string> external_ids) {
  std::vector<std::optional<Item>> out(external_ids.size());
  if (external_ids.empty()) return out;
  return wrap("item lookup", [&] {
    Lease l(*pool_, setup_);
    std::unordered_map<std::string, std::vector<std::size_t>> wanted;  // id -> its places in the answer
    for (std::size_t i = 0; i < external_ids.size(); ++i) wanted[external_ids[i]].push_back(i);
    std::vector<std::string> ids;
    ids.reserve(wanted.size());
    for (const auto& [id, places] : wanted) ids.push_back(id);
    for (std::size_t offset = 0; offset < ids.size(); offset += kFindBatch) {
      const std::size_t n = std::min(kFindBatch, ids.size() - offset);
      ItemRow row;
      auto prep = (l.sql().prepare << items_by_keys_query(n));
      row.bind(prep);
      prep, soci::use(source, "source"), soci::use(kind, "kind");
      for (std::size_t i = 0; i < n; ++i) prep, soci::use(ids[offset + i], "i" + std::to_string(i));
      soci::statement st(prep);
      for (auto& item : fetch_all(st, row)) {
        const auto found = wanted.find(item.external_id);
        if (found == wanted.end()) continue;
        for (std::size_t place : found->second) out[place] = item;
      }
    }
    return out;
  });
}

std::vector<Item> Store::items_of_partner(const std::string& partner_id) {
  return wrap("item query", [&] {
    Lease l(*pool_, setup_);
    ItemRow row;
    auto prep = (l.sql().prepare << std::string(ItemRow::kColumns) + "WHERE partner_id = :p ORDER BY source, kind, external_id");
    row.bind(prep);
    prep, soci::use(partner_id, "p");
    soci::statement st(prep);
    return fetch_all(st, row);
  });
}


std::vector<Item> Store::items_for_period(const std::string& partner_id, core::Instant start, core::Instant end) {
  return wrap("item query", [&] {
    Lease l(*pool_, setup_);
    ItemRow row;
    const long long s = core::to_unix_ms(start), e = core::to_unix_ms(end);
    auto prep = (l.sql().prepare << items_for_period_query());
    row.bind(prep);
    prep, soci::use(partner_id, "p"), soci::use(e, "e"), soci::use(s, "s"), soci::use(s, "s2");
    soci::statement st(prep);
    return fetch_all(st, row);
  });
}

std::vector<Item> Store::items_of_kind(const std::string& partner_id, const std::string& kind) {
  return wrap("item query", [&] {
    Lease l(*pool_, setup_);
    ItemRow row;
    auto prep = (l.sql().prepare << std::string(ItemRow::kColumns) +
                                        "WHERE partner_id = :p AND kind = :k ORDER BY source, kind, external_id");
    row.bind(prep);
    prep, soci::use(partner_id, "p"), soci::use(kind, "k");
    soci::statement st(prep);
    return fetch_all(st, row);
  });
}

std::int64_t Store::count_items(const std::optional<std::string>& source) {
  return wrap("item count", [&] {
    Lease l(*pool_, setup_);
    long long n = 0;
    if (source) {
      l.sql() << "SELECT count(*) FROM items WHERE source = :s", soci::use(*source), soci::into(n);
    } else {
      l.sql() << "SELECT count(*) FROM items", soci::into(n);
    }
    return static_cast<std::int64_t>(n);
  });
}

// --- cursors -------------------------------------------------------------------------------

void Store::set_cursor_in(soci::session& sql, const std::string& source, const std::string& cursor,
                          core::Instant now) {
  const long long at = core::to_unix_ms(now);
  sql << "INSERT INTO source_cursors (source, cursor, updated_at) VALUES (:s, :c, :at) "
         "ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
      soci::use(source), soci::use(cursor), soci::use(at);
}

void Store::set_cursor(const std::string& source, const std::string& cursor, core::Instant now) {
  wrap("cursor update", [&] {
    Transaction tx(*this, Durability::normal);
    set_cursor_in(tx.sql(), source, cursor, now);
    tx.commit();
  });
}

std::optional<std::string> Store::cursor(const std::string& source) {
  return wrap("cursor lookup", [&]() -> std::optional<std::string> {
    Lease l(*pool_, setup_);
    std::string c;
    l.sql() << "SELECT cursor FROM source_cursors WHERE source = :s", soci::use(source), soci::into(c);
    if (!l.sql().got_data()) return std::nullopt;
    return c;
  });
}


// --- sources: pages with their quarantine, and deliberate cursor moves ------------------------
// Kept apart from the item functions above: these only call upsert_items_in, set_cursor_in,
// record_intents_in and check_lease_in, whatever the items' identity.

SourcePageCounts Store::store_source_page(const SourcePage& page, core::Instant now, const LeaseGuard* guard) {
  PageWrite write;
  write.guard = guard;
  return store_source_page(page, now, write);
}

SourcePageCounts Store::store_source_page(const SourcePage& page, core::Instant now, const PageWrite& write) {
  return wrap("page store", [&] {
    Transaction tx(*this, Durability::normal);
    soci::session& sql = tx.sql();
    if (write.guard) check_lease_in(sql, *write.guard, "the page was not stored");
    SourcePageCounts out;
    const auto counts = upsert_items_in(sql, page.items, write.abort);
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
    if (page.cursor) set_cursor_in(sql, page.cursor_key, *page.cursor, now);
    record_intents_in(sql, write.intents, now);
    if (write.abort && write.abort->load()) throw WriteAbandoned("abandoned, nothing of it stored: the daemon is stopping");
    tx.commit();
    return out;
  });
}

std::vector<QuarantinedRecord> Store::quarantined(const std::optional<std::string>& source, std::size_t limit) {
  return wrap("quarantine list", [&] {
    Lease l(*pool_, setup_);
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

void Store::move_cursor(const std::string& cursor_key, const std::string& cursor, core::Instant now, const AuditEntry& e,
                        const LeaseGuard* guard) {
  wrap("cursor move", [&] {
    Transaction tx(*this, Durability::full);
    if (guard) check_lease_in(tx.sql(), *guard, "the cursor was not moved");
    set_cursor_in(tx.sql(), cursor_key, cursor, now);
    append_audit_in(tx.sql(), e);  // chained like every audit entry (docs/compensation.md, "The chain")
    tx.commit();
  });
}

}  // namespace pactwatch::store
