// Freshdesk v2: tickets updated since a high-water mark, oldest first, with stats.
//   GET /api/v2/tickets?updated_since=T&order_by=updated_at&order_type=asc&include=stats&per_page=N&page=P
// The body is a bare array; more pages while a Link rel="next" header is sent (or a page is full).
// Pages follow what is stored, not page numbers: after each page the next request starts again at
// the newest updated_at read (inclusive: that second is read again, harmlessly), so tickets updated
// mid-sync, which move to the end, shift nothing. Only a page whose tickets all share the window's
// first second goes on to page 2, 3, ... of that same second (up to `max_pages`, default 300, as
// Freshdesk caps how deep pages go).
#include "common.h"

namespace pactwatch::sources {

namespace {

using nlohmann::json;

const char* status_name(std::int64_t s) {
  switch (s) {
    case 2: return "open";
    case 3: return "pending";
    case 4: return "solved";   // Resolved
    case 5: return "closed";
    default: return "open";
  }
}

const char* priority_name(std::int64_t p) {
  switch (p) {
    case 1: return "low";
    case 2: return "normal";  // Medium
    case 3: return "high";
    case 4: return "urgent";
    default: return "normal";
  }
}

class Freshdesk final : public Connector {
 public:
  explicit Freshdesk(config::SourceConfig s) : s_(std::move(s)), per_page_(std::min(s_.page_size, 100)) {
    max_pages_ = std::max(1, std::atoi(s_.option("max_pages", "300").c_str()));
  }

  std::string kind() const override { return "tickets"; }
  std::string start_cursor(core::Instant since) const override { return detail::cursor_text({{"since", wire::rfc3339(since)}}); }

  net::HttpRequest request(const std::string& cursor, core::Instant since) const override {
    const json c = detail::cursor_json(cursor);
    const std::string from = detail::cstr(c, "since").value_or(wire::rfc3339(since));
    const auto page = std::clamp<std::int64_t>(detail::cint(c, "page").value_or(1), 1, 100000);
    net::HttpRequest r;
    r.url = s_.url + "/api/v2/tickets?updated_since=" + net::url_encode(from) + "&order_by=updated_at&order_type=asc&include=stats" +
            "&per_page=" + std::to_string(per_page_) + "&page=" + std::to_string(page);
    return r;
  }

  std::expected<Page, std::string> parse_page(const net::HttpResponse& resp, const std::string& cursor) const override {
    auto body = detail::parse_body(resp);
    if (!body) return std::unexpected(body.error());
    if (!body->is_array()) return std::unexpected("expected a JSON array of tickets");
    json c = detail::cursor_json(cursor);
    std::string hwm = detail::cstr(c, "hwm").value_or("");
    Page page;
    for (const auto& t : *body) {
      if (!t.is_object() || !t.contains("id")) return std::unexpected("a ticket without an id");
      json rec{{"id", detail::text_of(t["id"])}};
      detail::put_instant(rec, "created_at", t.value("created_at", json()));
      detail::put_instant(rec, "updated_at", t.value("updated_at", json()));
      if (!rec.contains("created_at") || !rec.contains("updated_at")) {
        return std::unexpected("ticket " + rec["id"].get<std::string>() + " lacks created_at or updated_at");
      }
      if (t.contains("status") && t["status"].is_number_integer()) rec["status"] = status_name(t["status"].get<std::int64_t>());
      if (t.contains("priority") && t["priority"].is_number_integer()) rec["priority"] = priority_name(t["priority"].get<std::int64_t>());
      if (t.contains("company_id") && !t["company_id"].is_null()) rec["account"] = detail::text_of(t["company_id"]);
      if (t.contains("tags") && t["tags"].is_array()) {
        json tags = json::array();
        for (const auto& tag : t["tags"]) {
          if (tag.is_string()) tags.push_back(tag);
        }
        rec["tags"] = tags;
      }
      if (t.contains("stats") && t["stats"].is_object()) {
        detail::put_instant(rec, "first_reply_at", t["stats"].value("first_responded_at", json()));
        detail::put_instant(rec, "solved_at", t["stats"].value("resolved_at", json()));
      }
      if (t.contains("custom_fields") && t["custom_fields"].is_object()) {
        json custom = json::object();
        for (const auto& [k, v] : t["custom_fields"].items()) {
          if (v.is_string() || v.is_number_integer()) custom[k] = v;
        }
        if (!custom.empty()) rec["custom"] = custom;
      }
      if (rec["updated_at"].get<std::string>() > hwm) hwm = rec["updated_at"].get<std::string>();
      page.records.push_back(std::move(rec));
    }
    const bool more = resp.header("Link") ? net::link_next(*resp.header("Link")).has_value()
                                          : static_cast<int>(body->size()) >= per_page_;
    const auto current = std::clamp<std::int64_t>(detail::cint(c, "page").value_or(1), 1, 100000);
    const std::string since = detail::cstr(c, "since").value_or("");
    json next;
    if (!more) {
      page.done = true;
      next = {{"since", hwm.empty() ? since : hwm}};  // the next poll starts at the newest change seen
      if (next["since"].get<std::string>().empty()) next = json::object();
    } else if (!hwm.empty() && hwm > since) {
      next = {{"since", hwm}};  // start again at the newest change read
    } else if (current < max_pages_) {
      next = {{"since", since}, {"page", current + 1}, {"hwm", hwm}};  // a page all of one second: the next of that second
    } else {
      return std::unexpected("more than " + std::to_string(max_pages_) + " pages of tickets updated at " + since +
                             ", one second: raise options.max_pages");
    }
    page.next_cursor = next.empty() ? cursor : detail::cursor_text(next);
    return page;
  }

  net::HttpRequest probe() const override { return {"GET", s_.url + "/api/v2/agents/me", {}, {}, {}}; }

  std::string describe_probe(const net::HttpResponse& r) const override {
    auto j = json::parse(r.body, nullptr, false);
    if (!j.is_object() || !j.contains("contact")) return Connector::describe_probe(r);
    return "authenticated as " + detail::text_of(j["contact"].value("name", json())) + " <" +
           detail::text_of(j["contact"].value("email", json())) + ">";
  }

 private:
  config::SourceConfig s_;
  int per_page_;
  int max_pages_ = 300;
};

}  // namespace

std::unique_ptr<Connector> make_freshdesk(const config::SourceConfig& s) { return std::make_unique<Freshdesk>(s); }

}  // namespace pactwatch::sources
