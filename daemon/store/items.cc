// The items repository: upserts (batched by backend) and reads by key, partner, period and kind.
#include "pactwatch/store/items.h"

#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>

#include <algorithm>
#include <map>
#include <tuple>
#include <unordered_map>

#include "queries.h"
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

// One field of COPY's text format: \N for NULL, and backslash, tab, newline and carriage return
// escaped (everything else travels as is).
void copy_field(std::string& out, const std::string& v) {
  for (char c : v) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      default: out += c;
    }
  }
}
void copy_number(std::string& out, const std::optional<long long>& v) { out += v ? std::to_string(*v) : std::string("\\N"); }

// PostgreSQL, a large upsert: the rows travel by COPY into a temporary staging table (one stream,
// no parameters to parse) and are stored with one INSERT ... SELECT under the same conflict rule
// as the multi-row INSERT. The staging table empties at commit (and with a rollback).
UpsertCounts copy_upsert(soci::session& sql, const std::vector<const Item*>& batch, UpsertCounts counts,
                         const std::atomic<bool>* abort) {
  sql << "CREATE TEMPORARY TABLE IF NOT EXISTS items_load (source TEXT, external_id TEXT, kind TEXT, partner_id TEXT, "
         "status TEXT, priority TEXT, created_at BIGINT, first_reply_at BIGINT, solved_at BIGINT, updated_at BIGINT, "
         "amount_minor BIGINT, currency TEXT, payload TEXT) ON COMMIT DELETE ROWS";
  auto* backend = static_cast<soci::postgresql_session_backend*>(sql.get_backend());
  PGconn* conn = backend->conn_;
  auto fail = [&](const std::string& what) -> void {
    throw std::runtime_error("COPY of " + std::to_string(batch.size()) + " items: " + what + ": " + PQerrorMessage(conn));
  };
  PGresult* started = PQexec(conn, "COPY items_load FROM STDIN");
  const bool copying = PQresultStatus(started) == PGRES_COPY_IN;
  PQclear(started);
  if (!copying) fail("could not start");
  std::string buffer;
  bool abandoned = false;
  auto ms = [](const std::optional<core::Instant>& t) { return t ? std::optional<long long>(core::to_unix_ms(*t)) : std::nullopt; };
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const Item& item = *batch[i];
    copy_field(buffer, item.source);
    buffer += '\t';
    copy_field(buffer, item.external_id);
    buffer += '\t';
    copy_field(buffer, item.kind);
    buffer += '\t';
    if (item.partner_id) copy_field(buffer, *item.partner_id);
    else buffer += "\\N";
    buffer += '\t';
    copy_field(buffer, item.status);
    buffer += '\t';
    copy_field(buffer, item.priority);
    buffer += '\t';
    copy_number(buffer, ms(item.created_at));
    buffer += '\t';
    copy_number(buffer, ms(item.first_reply_at));
    buffer += '\t';
    copy_number(buffer, ms(item.solved_at));
    buffer += '\t';
    copy_number(buffer, core::to_unix_ms(item.updated_at));
    buffer += '\t';
    copy_number(buffer, item.amount_minor ? std::optional<long long>(*item.amount_minor) : std::nullopt);
    buffer += '\t';
    copy_field(buffer, item.currency);
    buffer += '\t';
    copy_field(buffer, item.payload);
    buffer += '\n';
    if (buffer.size() >= (1U << 20) || i + 1 == batch.size()) {
      if (abort && abort->load()) {
        abandoned = true;
        break;
      }
      if (PQputCopyData(conn, buffer.data(), static_cast<int>(buffer.size())) != 1) fail("sending rows");
      buffer.clear();
    }
  }
  if (PQputCopyEnd(conn, abandoned ? "abandoned: the daemon is stopping" : nullptr) != 1) fail("ending");
  std::string error;
  while (PGresult* r = PQgetResult(conn)) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK && error.empty()) error = PQresultErrorMessage(r);
    PQclear(r);
  }
  if (abandoned) throw WriteAbandoned("abandoned, nothing of it stored: the daemon is stopping");
  if (!error.empty()) throw std::runtime_error("COPY of " + std::to_string(batch.size()) + " items: " + error);
  soci::statement st = (sql.prepare << std::string("INSERT INTO items (source, external_id, kind, partner_id, status, priority, "
                                                   "created_at, first_reply_at, solved_at, updated_at, amount_minor, currency, "
                                                   "payload) SELECT * FROM items_load") + kUpsertConflict);
  st.execute(true);
  const auto written = static_cast<std::int64_t>(st.get_affected_rows());
  counts.written += written;
  counts.unchanged += static_cast<std::int64_t>(batch.size()) - written;
  // Emptied now, not only at commit: a second large upsert in the same transaction starts afresh.
  sql << "TRUNCATE items_load";
  return counts;
}

std::vector<Item> fetch_all(soci::statement& st, const ItemRow& row) {
  std::vector<Item> out;
  st.execute();
  while (st.fetch()) out.push_back(row.get());
  return out;
}

}  // namespace

// Ids per statement of find_many: one round trip per 500 records of a page; 502 parameters stay
// far below SQLite's 32,766 and PostgreSQL's 65,535.
constexpr std::size_t kFindBatch = 500;

// The statement of find_many for `n` ids: the same text serves SQLite and PostgreSQL (a list of
// bound ids, read through the (source, kind, external_id) key like find's kItemByKeyWhere).
std::string items_by_keys_query(std::size_t n) {
  std::string query = std::string(kItemColumns) + "WHERE source = :source AND kind = :kind AND external_id IN (";
  for (std::size_t i = 0; i < n; ++i) query += (i ? ",:i" : ":i") + std::to_string(i);
  return query + ')';
}

UpsertCounts upsert_items_in(Transaction& tx, std::span<const Item> items, const std::atomic<bool>* abort) {
  soci::session& sql = tx.sql();
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
  if (tx.database().backend() == Backend::postgresql && batch.size() >= tx.database().copy_threshold()) {
    return copy_upsert(sql, batch, counts, abort);
  }
  const std::size_t rows = std::clamp<std::size_t>(tx.database().upsert_batch(), 1, kMaxUpsertBatch);
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

UpsertCounts Items::upsert(std::span<const Item> items) {
  return db_.wrap("item upsert", [&] {
    Transaction tx(db_, Durability::normal);
    auto counts = upsert_items_in(tx, items);
    tx.commit();
    return counts;
  });
}

std::optional<Item> Items::find(const std::string& source, const std::string& kind, const std::string& external_id) {
  return db_.wrap("item lookup", [&]() -> std::optional<Item> {
    Lease l(db_);
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

std::vector<std::optional<Item>> Items::find_many(const std::string& source, const std::string& kind,
                                                  std::span<const std::string> external_ids) {
  std::vector<std::optional<Item>> out(external_ids.size());
  if (external_ids.empty()) return out;
  return db_.wrap("item lookup", [&] {
    Lease l(db_);
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

std::vector<Item> Items::of_partner(const std::string& partner_id) {
  return db_.wrap("item query", [&] {
    Lease l(db_);
    ItemRow row;
    auto prep = (l.sql().prepare << std::string(ItemRow::kColumns) + "WHERE partner_id = :p ORDER BY source, kind, external_id");
    row.bind(prep);
    prep, soci::use(partner_id, "p");
    soci::statement st(prep);
    return fetch_all(st, row);
  });
}

std::vector<Item> Items::for_period(const std::string& partner_id, core::Instant start, core::Instant end) {
  return db_.wrap("item query", [&] {
    Lease l(db_);
    ItemRow row;
    const long long s = core::to_unix_ms(start), e = core::to_unix_ms(end);
    auto prep = (l.sql().prepare << items_for_period_query());
    row.bind(prep);
    prep, soci::use(partner_id, "p"), soci::use(e, "e"), soci::use(s, "s"), soci::use(s, "s2");
    soci::statement st(prep);
    return fetch_all(st, row);
  });
}

std::vector<Item> Items::of_kind(const std::string& partner_id, const std::string& kind) {
  return db_.wrap("item query", [&] {
    Lease l(db_);
    ItemRow row;
    auto prep = (l.sql().prepare << std::string(ItemRow::kColumns) +
                                        "WHERE partner_id = :p AND kind = :k ORDER BY source, kind, external_id");
    row.bind(prep);
    prep, soci::use(partner_id, "p"), soci::use(kind, "k");
    soci::statement st(prep);
    return fetch_all(st, row);
  });
}

std::int64_t Items::count(const std::optional<std::string>& source) {
  return db_.wrap("item count", [&] {
    Lease l(db_);
    long long n = 0;
    if (source) {
      l.sql() << "SELECT count(*) FROM items WHERE source = :s", soci::use(*source), soci::into(n);
    } else {
      l.sql() << "SELECT count(*) FROM items", soci::into(n);
    }
    return static_cast<std::int64_t>(n);
  });
}

}  // namespace pactwatch::store
