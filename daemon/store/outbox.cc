// The outbox repository: notification events, their deliveries and reminders.
#include "pactwatch/store/outbox.h"

#include <soci/soci.h>

#include <map>

#include "queries.h"
#include "rows.h"
#include "store_internal.h"

namespace pactwatch::store {

// --- outbox ----------------------------------------------------------------------------------

// A JSON string literal of `v` (event payloads are built here, where no JSON library is linked).
std::string json_string(const std::string& v) {
  std::string out = "\"";
  for (char ch : v) {
    if (ch == '"' || ch == '\\') out += '\\';
    if (static_cast<unsigned char>(ch) < 0x20) continue;
    out += ch;
  }
  return out + "\"";
}

// ",\"evidence\":\"/v1/...\",..." for an event's payload.
std::string links_json(const OutboxEvent& e) {
  std::string out;
  for (const auto& [name, path] : event_links(e)) out += "," + json_string(name) + ":" + json_string(path);
  return out;
}

void insert_event(soci::session& sql, const OutboxEvent& e) {
  std::string id = e.id, type = e.type, partner = e.partner, contract = e.contract, period = e.period, subject = e.subject,
              payload = e.payload;
  int version = e.version;
  long long at = core::to_unix_ms(e.created_at);
  // The same cause twice (a retried run) is one event.
  sql << "INSERT INTO outbox (id, type, partner, contract, version, period, subject, created_at, payload) "
         "VALUES (:i, :t, :pa, :c, :v, :p, :s, :a, :pl) ON CONFLICT (id) DO NOTHING",
      soci::use(id), soci::use(type), soci::use(partner), soci::use(contract), soci::use(version), soci::use(period),
      soci::use(subject), soci::use(at), soci::use(payload);
}

void insert_events(soci::session& sql, std::span<const OutboxEvent> events) {
  Rows rows(9);
  for (const auto& e : events) {
    rows.text(e.id).text(e.type).text(e.partner).text(e.contract).number(e.version).text(e.period).text(e.subject)
        .number(core::to_unix_ms(e.created_at)).text(e.payload);
  }
  // The same id twice, here or from an earlier run, is one event.
  rows.run(sql, "INSERT INTO outbox (id, type, partner, contract, version, period, subject, created_at, payload) VALUES ",
           " ON CONFLICT (id) DO NOTHING", 200);
}

std::optional<OutboxEvent> event_for(const StatusChange& c) {
  const auto colon = c.rule.find(':');
  const std::string kind = c.rule.substr(0, colon);
  const std::string from = c.from.value_or("");
  std::string type;
  if (kind == "kpi") {
    if (c.to == "breached") type = "kpi.breached";
    else if (c.to == "at_risk") type = "kpi.at_risk";
    else if ((c.to == "met" || c.to == "warning") && (from == "breached" || from == "at_risk")) type = "kpi.recovered";
  } else if (kind == "standard" && c.to == "breached") {
    type = "standard.violated";
  } else if (kind == "obligation" && c.to == "breached") {
    type = "obligation.breached";
  }
  if (type.empty()) return std::nullopt;
  OutboxEvent e;
  e.type = type;
  e.partner = c.partner;
  e.contract = c.contract;
  e.version = c.version;
  e.period = c.period;
  e.subject = c.rule;
  e.created_at = c.at;
  e.id = type + "/" + c.contract + "/" + std::to_string(c.version) + "/" + c.period + "/" + c.rule + "/" +
         std::to_string(core::to_unix_ms(c.at));
  e.payload = "{\"rule\":" + json_string(c.rule) + ",\"from\":" + (c.from ? json_string(*c.from) : std::string("null")) +
              ",\"to\":" + json_string(c.to) + links_json(e) + "}";
  return e;
}

namespace {

// Percent-encodes everything but RFC 3986's unreserved characters (for path segments and query values).
std::string url_encode(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> event_links(const OutboxEvent& e) {
  const std::string partner = "/v1/partners/" + url_encode(e.partner);
  // A rolling window's label ("rolling 30d to ...") names no period the API takes.
  const std::string period = e.period.starts_with("rolling ") ? "" : "period=" + url_encode(e.period);
  const auto query = [](std::string q) { return q.empty() ? q : "?" + q; };
  if (e.type == "statement.closed") return {{"statements", partner + "/statements" + query(period)}};
  if (e.type.starts_with("dispute.")) {
    // subject "PARTY:RULE": the disputed rule's evidence in that version and period.
    const auto colon = e.subject.find(':');
    const std::string rule = colon == std::string::npos ? std::string() : e.subject.substr(colon + 1);
    return {{"evidence", partner + "/kpis/" + url_encode(rule) + "/evidence?" + (period.empty() ? "" : period + "&") +
                             "contract=" + url_encode(e.contract) + "&version=" + std::to_string(e.version)}};
  }
  if (e.type.starts_with("contract.")) {
    return {{"proposal", "/v1/contracts/" + url_encode(e.contract) + "/versions/" + std::to_string(e.version) + "/proposal"}};
  }
  const auto colon = e.subject.find(':');
  const std::string rule = colon == std::string::npos ? e.subject : e.subject.substr(colon + 1);
  return {{"evidence", partner + "/kpis/" + url_encode(rule) + "/evidence?" + (period.empty() ? "" : period + "&") +
                           "contract=" + url_encode(e.contract) + "&version=" + std::to_string(e.version)},
          {"standing", partner + "/kpis" + query(period)}};
}

namespace {

struct EventRow {
  OutboxEvent e;
  long long at = 0;
  static constexpr const char* kColumns = "SELECT id, type, partner, contract, version, period, subject, created_at, payload FROM outbox ";
  void bind(soci::details::prepare_temp_type& p) {
    p, soci::into(e.id), soci::into(e.type), soci::into(e.partner), soci::into(e.contract), soci::into(e.version),
        soci::into(e.period), soci::into(e.subject), soci::into(at), soci::into(e.payload);
  }
  [[nodiscard]] OutboxEvent get() const {
    OutboxEvent out = e;
    out.created_at = core::from_unix_ms(at);
    return out;
  }
};

struct DeliveryRow {
  Delivery d;
  long long next = 0, delivered = 0;
  soci::indicator error_ind = soci::i_ok, delivered_ind = soci::i_ok;
  static constexpr const char* kColumns =
      "SELECT event_id, channel, status, attempts, next_attempt_at, last_error, delivered_at FROM deliveries ";
  void bind(soci::details::prepare_temp_type& p) {
    p, soci::into(d.event_id), soci::into(d.channel), soci::into(d.status), soci::into(d.attempts), soci::into(next),
        soci::into(d.last_error, error_ind), soci::into(delivered, delivered_ind);
  }
  [[nodiscard]] Delivery get() const {
    Delivery out = d;
    out.next_attempt_at = core::from_unix_ms(next);
    if (error_ind != soci::i_ok) out.last_error.clear();
    out.delivered_at = delivered_ind == soci::i_ok ? std::optional(core::from_unix_ms(delivered)) : std::nullopt;
    return out;
  }
};

}  // namespace

std::vector<OutboxEvent> Outbox::events(std::size_t limit) {
  return db_.wrap("outbox list", [&] {
    Lease l(db_);
    EventRow row;
    auto prep = (l.sql().prepare << std::string(EventRow::kColumns) + "ORDER BY created_at, id LIMIT " + std::to_string(limit));
    row.bind(prep);
    soci::statement st(prep);
    st.execute();
    std::vector<OutboxEvent> out;
    while (st.fetch()) out.push_back(row.get());
    return out;
  });
}

std::optional<OutboxEvent> Outbox::event(const std::string& id) {
  return db_.wrap("outbox lookup", [&]() -> std::optional<OutboxEvent> {
    Lease l(db_);
    EventRow row;
    auto prep = (l.sql().prepare << std::string(EventRow::kColumns) + "WHERE id = :i");
    row.bind(prep);
    prep, soci::use(id, "i");
    soci::statement st(prep);
    st.execute();
    if (!st.fetch()) return std::nullopt;
    return row.get();
  });
}

std::vector<Delivery> Outbox::due(const std::string& channel, core::Instant now, core::Instant channel_since,
                                  std::size_t limit) {
  return db_.wrap("outbox deliveries", [&] {
    Transaction tx(db_, Durability::normal);
    // The sweep for events the channel has not seen starts where the last one (of this process)
    // reached, less a lookback for events that committed late or were stamped by an instance with
    // a slower clock: the outbox is read by its created_at index, not in full, every second.
    long long from = core::to_unix_ms(channel_since);
    {
      std::lock_guard lock(sweep_mutex_);
      if (const auto it = swept_.find(channel); it != swept_.end()) {
        from = std::max<long long>(from, core::to_unix_ms(it->second - kSweepLookback));
      }
    }
    const long long at = core::to_unix_ms(now), since = from;
    std::string ch = channel;
    tx.sql() << kDeliverySweep,
        soci::use(ch, "c"), soci::use(at, "a"), soci::use(since, "s"), soci::use(ch, "c2");
    DeliveryRow row;
    auto prep = (tx.sql().prepare << std::string(DeliveryRow::kColumns) + kDueDeliveriesWhere + std::to_string(limit));
    row.bind(prep);
    prep, soci::use(ch, "c"), soci::use(at, "a");
    soci::statement st(prep);
    st.execute();
    std::vector<Delivery> out;
    while (st.fetch()) out.push_back(row.get());
    long long newest = 0;
    soci::indicator ind = soci::i_null;
    tx.sql() << "SELECT max(created_at) FROM outbox WHERE created_at >= :s", soci::use(since), soci::into(newest, ind);
    tx.commit();
    if (ind == soci::i_ok) {
      std::lock_guard lock(sweep_mutex_);
      auto& mark = swept_[channel];
      mark = std::max(mark, core::from_unix_ms(newest));
    }
    return out;
  });
}

void Outbox::update_delivery(const Delivery& d) {
  db_.wrap("delivery update", [&] {
    Transaction tx(db_, Durability::full);
    std::string status = d.status, error = d.last_error, id = d.event_id, ch = d.channel;
    int attempts = d.attempts;
    long long next = core::to_unix_ms(d.next_attempt_at);
    long long delivered = d.delivered_at ? core::to_unix_ms(*d.delivered_at) : 0;
    soci::indicator di = d.delivered_at ? soci::i_ok : soci::i_null;
    tx.sql() << "UPDATE deliveries SET status = :s, attempts = :n, next_attempt_at = :t, last_error = :e, delivered_at = :d "
                "WHERE event_id = :i AND channel = :c",
        soci::use(status), soci::use(attempts), soci::use(next), soci::use(error), soci::use(delivered, di), soci::use(id),
        soci::use(ch);
    tx.commit();
    return 0;
  });
}

std::vector<Delivery> Outbox::deliveries(const std::optional<std::string>& status) {
  return db_.wrap("delivery list", [&] {
    Lease l(db_);
    DeliveryRow row;
    const std::string filter = status.value_or("");
    auto prep = (l.sql().prepare << std::string(DeliveryRow::kColumns) +
                                        "WHERE :f = '' OR status = :f2 ORDER BY next_attempt_at, event_id, channel");
    row.bind(prep);
    prep, soci::use(filter, "f"), soci::use(filter, "f2");
    soci::statement st(prep);
    st.execute();
    std::vector<Delivery> out;
    while (st.fetch()) out.push_back(row.get());
    return out;
  });
}

int Outbox::retry(const std::string& event_id, core::Instant now) {
  return db_.wrap("delivery retry", [&] {
    Transaction tx(db_, Durability::full);
    long long at = core::to_unix_ms(now);
    std::string id = event_id;
    soci::statement st = (tx.sql().prepare << "UPDATE deliveries SET status = 'pending', next_attempt_at = :a, attempts = 0 "
                                              "WHERE status = 'dead' AND (:i = 'all' OR event_id = :i2)",
                          soci::use(at, "a"), soci::use(id, "i"), soci::use(id, "i2"));
    st.execute(true);
    const auto n = static_cast<int>(st.get_affected_rows());
    tx.commit();
    return n;
  });
}

std::map<std::string, std::int64_t> Outbox::delivery_counts() {
  return db_.wrap("delivery counts", [&] {
    Lease l(db_);
    std::map<std::string, std::int64_t> out;
    std::string status;
    long long n = 0;
    soci::statement st = (l.sql().prepare << "SELECT status, count(*) FROM deliveries GROUP BY status", soci::into(status), soci::into(n));
    st.execute();
    while (st.fetch()) out[status] = n;
    return out;
  });
}

int Outbox::write_reminders(core::Instant now, std::chrono::seconds interval) {
  return db_.wrap("reminders", [&] {
    Transaction tx(db_, Durability::full);
    struct Row {
      std::string contract, period, partner, rule, status;
      int version = 0;
      long long since = 0;
    };
    std::vector<Row> rows;
    Row r;
    soci::statement st = (tx.sql().prepare << "SELECT s.contract, s.version, s.period, e.partner, s.rule, s.status, s.since "
                                              "FROM rule_statuses s JOIN evaluations e ON e.contract = s.contract AND "
                                              "e.version = s.version AND e.period = s.period "
                                              "WHERE s.status IN ('breached', 'at_risk') AND (s.rule LIKE 'kpi:%' OR s.rule LIKE 'obligation:%')",
                          soci::into(r.contract), soci::into(r.version), soci::into(r.period), soci::into(r.partner),
                          soci::into(r.rule), soci::into(r.status), soci::into(r.since));
    st.execute();
    while (st.fetch()) rows.push_back(r);
    int written = 0;
    const long long step = static_cast<long long>(interval.count()) * 1000;
    for (const auto& row : rows) {
      const long long n = (core::to_unix_ms(now) - row.since) / step;
      if (n < 1) continue;
      StatusChange c{row.contract, row.version, row.period, row.partner, row.rule, std::nullopt, row.status, core::from_unix_ms(row.since)};
      auto e = event_for(c);
      if (!e) continue;
      e->id += "/reminder/" + std::to_string(n);
      e->created_at = core::from_unix_ms(row.since + n * step);
      e->payload.insert(e->payload.size() - 1, ",\"reminder\":" + std::to_string(n));
      long long before = 0;
      std::string id = e->id;
      tx.sql() << "SELECT count(*) FROM outbox WHERE id = :i", soci::use(id), soci::into(before);
      if (before > 0) continue;
      insert_event(tx.sql(), *e);
      ++written;
    }
    tx.commit();
    return written;
  });
}

std::vector<OutboxEvent> Outbox::events_after(core::Instant at, const std::string& id, std::size_t limit) {
  return db_.wrap("outbox page", [&] {
    Lease l(db_);
    EventRow row;
    const long long ms = core::to_unix_ms(at);
    auto prep = (l.sql().prepare << std::string(EventRow::kColumns) + kOutboxAfterWhere + std::to_string(limit));
    row.bind(prep);
    prep, soci::use(ms, "a"), soci::use(id, "i");
    soci::statement st(prep);
    st.execute();
    std::vector<OutboxEvent> out;
    while (st.fetch()) out.push_back(row.get());
    return out;
  });
}

std::vector<Delivery> Outbox::deliveries_of(const std::string& event_id) {
  return db_.wrap("event deliveries", [&] {
    Lease l(db_);
    DeliveryRow row;
    auto prep = (l.sql().prepare << std::string(DeliveryRow::kColumns) + "WHERE event_id = :e ORDER BY channel");
    row.bind(prep);
    prep, soci::use(event_id, "e");
    soci::statement st(prep);
    st.execute();
    std::vector<Delivery> out;
    while (st.fetch()) out.push_back(row.get());
    return out;
  });
}

}  // namespace pactwatch::store
