// The API's notifications and audit log.
#include <algorithm>
#include <charconv>

#include "handlers.h"

namespace pactwatch::api {

namespace {

// An event's data with its links as they are now (events stored with older links show working ones).
json event_data(const store::OutboxEvent& e) {
  json data = json::parse(e.payload, nullptr, false);
  if (!data.is_object()) data = json::object();
  for (const auto& [name, path] : store::event_links(e)) data[name] = path;
  return data;
}

json event_json(store::Store& db, const store::OutboxEvent& e) {
  json deliveries = json::array();
  for (const auto& d : db.outbox().deliveries_of(e.id)) {
    deliveries.push_back({{"channel", d.channel}, {"status", d.status}, {"attempts", d.attempts},
                          {"next_attempt_at", core::format_rfc3339(d.next_attempt_at)},
                          {"last_error", d.last_error.empty() ? json(nullptr) : json(d.last_error)},
                          {"delivered_at", d.delivered_at ? json(core::format_rfc3339(*d.delivered_at)) : json(nullptr)}});
  }
  return json{{"id", e.id}, {"type", e.type}, {"partner", e.partner}, {"contract", e.contract}, {"version", e.version},
              {"period", e.period}, {"subject", e.subject}, {"created_at", core::format_rfc3339(e.created_at)},
              {"data", event_data(e)}, {"deliveries", deliveries}};
}

}  // namespace

Result<json> list_notifications(Api::Impl& impl, Call& c) {
  auto page = page_request(c.req, impl.options);
  if (!page) return std::unexpected(page.error());
  const auto status = query(c.req, "status");
  if (!status.empty() && status != "pending" && status != "delivered" && status != "dead") {
    return std::unexpected(bad_request("status: expected pending, delivered or dead"));
  }
  if (!status.empty()) {
    // The events with a delivery in that state (status=dead: the dead-letter list), by event id.
    std::vector<std::string> ids;
    for (const auto& d : impl.db.outbox().deliveries(status)) ids.push_back(d.event_id);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    std::vector<std::pair<std::vector<std::string>, json>> keyed;
    for (const auto& id : ids) {
      if (page->after && std::vector<std::string>{id} <= *page->after) continue;
      if (keyed.size() > page->limit) break;
      if (auto e = impl.db.outbox().event(id)) keyed.push_back({{id}, event_json(impl.db, *e)});
    }
    PageRequest all{std::nullopt, page->limit};
    return page_of(std::move(keyed), all);
  }
  // Every event in the order written, keyset on (created_at, id).
  core::Instant after_at{};
  std::string after_id;
  if (page->after) {
    if (page->after->size() != 2) return std::unexpected(bad_request("cursor: not a cursor of this list"));
    std::int64_t ms = 0;
    const auto& t = (*page->after)[0];
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), ms);
    if (ec != std::errc() || ptr != t.data() + t.size()) return std::unexpected(bad_request("cursor: not a cursor of this list"));
    after_at = core::from_unix_ms(ms);
    after_id = (*page->after)[1];
  } else {
    after_at = core::from_unix_ms(std::numeric_limits<std::int64_t>::min());
  }
  auto events = impl.db.outbox().events_after(after_at, after_id, page->limit + 1);
  json items = json::array();
  json next = nullptr;
  for (std::size_t i = 0; i < events.size() && i < page->limit; ++i) items.push_back(event_json(impl.db, events[i]));
  if (events.size() > page->limit) {
    const auto& last = events[page->limit - 1];
    next = encode_cursor({std::to_string(core::to_unix_ms(last.created_at)), last.id});
  }
  return json{{"items", items}, {"next_cursor", next}};
}

Result<json> retry_notification(Api::Impl& impl, Call& c) {
  const auto& id = c.params.at("event");
  if (id != "all" && !impl.db.outbox().event(id)) return std::unexpected(not_found("no notification event '" + id + "'"));
  const int n = impl.db.outbox().retry(id, c.now);
  return json{{"event", id}, {"requeued", n}};
}

Result<json> list_audit(Api::Impl& impl, Call& c) {
  auto page = page_request(c.req, impl.options);
  if (!page) return std::unexpected(page.error());
  // Newest first, keyset on the sequence number.
  std::optional<std::int64_t> before;
  if (page->after) {
    std::int64_t seq = 0;
    const auto& t = page->after->front();
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), seq);
    if (page->after->size() != 1 || ec != std::errc() || ptr != t.data() + t.size()) {
      return std::unexpected(bad_request("cursor: not a cursor of this list"));
    }
    before = seq;
  }
  const auto entries = impl.db.audit().newest(page->limit + 1, before);
  json items = json::array();
  for (std::size_t i = 0; i < entries.size() && i < page->limit; ++i) {
    const auto& e = entries[i];
    items.push_back({{"seq", e.seq}, {"at", core::format_rfc3339(e.at)}, {"actor", e.actor}, {"role", e.role},
                     {"action", e.action}, {"target", e.target}, {"outcome", e.outcome}});
  }
  json next = entries.size() > page->limit ? json(encode_cursor({std::to_string(entries[page->limit - 1].seq)})) : json(nullptr);
  return json{{"items", items}, {"next_cursor", next}};
}

}  // namespace pactwatch::api
