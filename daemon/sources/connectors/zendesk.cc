// Zendesk Support: the cursor-based incremental ticket export with ticket metrics sideloaded.
//   GET /api/v2/incremental/tickets/cursor.json?start_time=EPOCH_S&include=metric_sets
//   GET /api/v2/incremental/tickets/cursor.json?cursor=AFTER_CURSOR&include=metric_sets
// until end_of_stream; the stored cursor is the last after_cursor. Organization ids attribute
// tickets (partners.yaml external_ids under the source's name).
#include <map>

#include "common.h"

namespace pactwatch::sources {

namespace {

using nlohmann::json;

class Zendesk final : public Connector {
 public:
  explicit Zendesk(config::SourceConfig s) : s_(std::move(s)) {}

  std::string kind() const override { return "tickets"; }
  int default_requests_per_minute() const override { return 10; }  // the incremental export's limit
  // Before the first after_cursor: {"start_time": EPOCH_S} (an after_cursor is never JSON).
  std::string start_cursor(core::Instant since) const override {
    return detail::cursor_text({{"start_time", std::chrono::floor<std::chrono::seconds>(since).time_since_epoch().count()}});
  }

  net::HttpRequest request(const std::string& cursor, core::Instant since) const override {
    net::HttpRequest r;
    const std::string size = "&per_page=" + std::to_string(std::min(s_.page_size, 1000));
    if (cursor.empty() || cursor.front() == '{') {
      const auto secs = detail::cint(detail::cursor_json(cursor), "start_time")
                            .value_or(std::chrono::floor<std::chrono::seconds>(since).time_since_epoch().count());
      r.url = s_.url + "/api/v2/incremental/tickets/cursor.json?start_time=" + std::to_string(secs) + "&include=metric_sets" +
              size + "&exclude_deleted=true";
    } else {
      r.url = s_.url + "/api/v2/incremental/tickets/cursor.json?cursor=" + net::url_encode(cursor) + "&include=metric_sets" +
              size + "&exclude_deleted=true";
    }
    return r;
  }

  std::expected<Page, std::string> parse_page(const net::HttpResponse& resp, const std::string& cursor) const override {
    auto body = detail::parse_body(resp);
    if (!body) return std::unexpected(body.error());
    const json& j = *body;
    if (!j.is_object() || !j.contains("tickets") || !j["tickets"].is_array()) return std::unexpected("no 'tickets' array");
    if (!j.contains("end_of_stream") || !j["end_of_stream"].is_boolean()) return std::unexpected("no 'end_of_stream' flag");
    std::map<std::string, json> metrics;
    if (j.contains("metric_sets") && j["metric_sets"].is_array()) {
      for (const auto& m : j["metric_sets"]) {
        if (m.is_object() && m.contains("ticket_id")) metrics[detail::text_of(m["ticket_id"])] = m;
      }
    }
    Page page;
    for (const auto& t : j["tickets"]) {
      if (!t.is_object() || !t.contains("id")) return std::unexpected("a ticket without an id");
      json rec{{"id", detail::text_of(t["id"])}};
      detail::put_instant(rec, "created_at", t.value("created_at", json()));
      detail::put_instant(rec, "updated_at", t.value("updated_at", json()));
      if (!rec.contains("created_at")) return std::unexpected("ticket " + rec["id"].get<std::string>() + " has no created_at");
      if (t.contains("status") && t["status"].is_string()) rec["status"] = t["status"];
      if (t.contains("priority") && t["priority"].is_string()) rec["priority"] = t["priority"];
      if (t.contains("organization_id") && !t["organization_id"].is_null()) rec["account"] = detail::text_of(t["organization_id"]);
      if (t.contains("tags") && t["tags"].is_array()) {
        json tags = json::array();
        for (const auto& tag : t["tags"]) {
          if (tag.is_string()) tags.push_back(tag);
        }
        rec["tags"] = tags;
      }
      if (t.contains("via") && t["via"].is_object() && t["via"].contains("channel") && t["via"]["channel"].is_string()) {
        rec["channel"] = t["via"]["channel"];
      }
      if (t.contains("satisfaction_rating") && t["satisfaction_rating"].is_object()) {
        const auto& s = t["satisfaction_rating"];
        if (s.contains("score") && s["score"].is_string() && (s["score"] == "good" || s["score"] == "bad")) rec["satisfaction"] = s["score"];
      }
      if (t.contains("custom_fields") && t["custom_fields"].is_array()) {
        json custom = json::object();
        for (const auto& f : t["custom_fields"]) {
          if (!f.is_object() || !f.contains("id") || !f.contains("value")) continue;
          const auto& v = f["value"];
          if (v.is_string() || v.is_number_integer() || v.is_boolean()) custom[detail::text_of(f["id"])] = v.is_boolean() ? json(v.get<bool>() ? "true" : "false") : v;
        }
        if (!custom.empty()) rec["custom"] = custom;
      }
      if (auto m = metrics.find(rec["id"].get<std::string>()); m != metrics.end()) {
        const auto& ms = m->second;
        detail::put_instant(rec, "solved_at", ms.value("solved_at", json()));
        if (ms.contains("reopens") && ms["reopens"].is_number_integer()) rec["reopens"] = ms["reopens"];
        if (ms.contains("replies") && ms["replies"].is_number_integer()) rec["replies"] = ms["replies"];
        // The first reply, from its calendar minutes after creation (business minutes are
        // Zendesk's schedule, not the contract's: pactwatch measures on its own calendars).
        if (ms.contains("reply_time_in_minutes") && ms["reply_time_in_minutes"].is_object()) {
          const auto& rt = ms["reply_time_in_minutes"];
          if (rt.contains("calendar") && rt["calendar"].is_number_integer()) {
            const auto created = *core::parse_rfc3339(rec["created_at"].get<std::string>());
            rec["first_reply_at"] = wire::rfc3339(created + std::chrono::minutes(rt["calendar"].get<std::int64_t>()));
          }
        }
      }
      page.records.push_back(std::move(rec));
    }
    page.done = j["end_of_stream"].get<bool>();
    page.next_cursor = j.contains("after_cursor") && j["after_cursor"].is_string() ? j["after_cursor"].get<std::string>() : cursor;
    return page;
  }

  net::HttpRequest probe() const override { return {"GET", s_.url + "/api/v2/users/me.json", {}, {}, {}}; }

  std::string describe_probe(const net::HttpResponse& r) const override {
    auto j = json::parse(r.body, nullptr, false);
    if (!j.is_object() || !j.contains("user") || !j["user"].is_object()) return Connector::describe_probe(r);
    const auto& u = j["user"];
    if (u.value("id", json()).is_null()) return "the credentials were not accepted (Zendesk answered as an anonymous user)";
    return "authenticated as " + detail::text_of(u.value("name", json())) + " <" + detail::text_of(u.value("email", json())) +
           ">, role " + detail::text_of(u.value("role", json()));
  }

 private:
  config::SourceConfig s_;
};

// The incremental ticket events export, for status history (a time-based export):
//   GET /api/v2/incremental/ticket_events.json?start_time=EPOCH_S
// answers {ticket_events, next_page, end_time, end_of_stream}; the next request starts at
// end_time. Each event is an update of one ticket with its child events; a status change is a
// child event naming the status field ({"field_name": "status", "value": ...}, or {"status": ...}
// with previous_value). The changes become status_history entries of the stored tickets.
class ZendeskTicketEvents final : public Connector {
 public:
  explicit ZendeskTicketEvents(config::SourceConfig s) : s_(std::move(s)) {}

  std::string kind() const override { return "tickets"; }
  std::string stream() const override { return "ticket_events"; }
  bool history_only() const override { return true; }
  int default_requests_per_minute() const override { return 10; }
  std::string start_cursor(core::Instant since) const override {
    return detail::cursor_text({{"start_time", std::chrono::floor<std::chrono::seconds>(since).time_since_epoch().count()}});
  }

  net::HttpRequest request(const std::string& cursor, core::Instant since) const override {
    const json c = detail::cursor_json(cursor);
    const auto start = detail::cint(c, "start_time").value_or(std::chrono::floor<std::chrono::seconds>(since).time_since_epoch().count());
    return {"GET", s_.url + "/api/v2/incremental/ticket_events.json?start_time=" + std::to_string(start), {}, {}, {}};
  }

  std::expected<Page, std::string> parse_page(const net::HttpResponse& resp, const std::string& cursor) const override {
    auto body = detail::parse_body(resp);
    if (!body) return std::unexpected(body.error());
    const json& j = *body;
    if (!j.is_object() || !j.contains("ticket_events") || !j["ticket_events"].is_array()) return std::unexpected("no 'ticket_events' array");
    if (!j.contains("end_of_stream") || !j["end_of_stream"].is_boolean()) return std::unexpected("no 'end_of_stream' flag");
    std::map<std::string, json> history;  // ticket id -> entries
    for (const auto& e : j["ticket_events"]) {
      if (!e.is_object() || !e.contains("ticket_id")) return std::unexpected("a ticket event without ticket_id");
      auto at = wire::instant(e.value("created_at", json()));
      if (!at && e.contains("timestamp") && e["timestamp"].is_number_integer()) at = core::from_unix_ms(e["timestamp"].get<std::int64_t>() * 1000);
      if (!at || !e.contains("child_events") || !e["child_events"].is_array()) continue;
      for (const auto& child : e["child_events"]) {
        if (!child.is_object()) continue;
        json status;
        if (child.value("field_name", json()) == "status") status = child.value("value", json());
        else if (child.contains("status") && child.contains("previous_value")) status = child["status"];
        if (!status.is_string()) continue;
        auto& h = history[detail::text_of(e["ticket_id"])];
        if (h.is_null()) h = json::array();
        h.push_back({{"at", wire::rfc3339(*at)}, {"status", status}});
      }
    }
    Page page;
    for (auto& [id, h] : history) page.records.push_back({{"id", id}, {"status_history", std::move(h)}});
    page.done = j["end_of_stream"].get<bool>();
    const json c = detail::cursor_json(cursor);
    if (j.contains("end_time") && j["end_time"].is_number_integer()) {
      page.next_cursor = detail::cursor_text({{"start_time", j["end_time"]}});
    } else if (!page.done) {
      return std::unexpected("more events announced but no end_time to continue from");
    } else {
      page.next_cursor = cursor;
    }
    return page;
  }

  net::HttpRequest probe() const override { return {"GET", s_.url + "/api/v2/users/me.json", {}, {}, {}}; }

 private:
  config::SourceConfig s_;
};

// Satisfaction ratings (CSAT) as surveys, with cursor pagination:
//   GET /api/v2/satisfaction_ratings?score=received&start_time=EPOCH_S&page[size]=N[&page[after]=CURSOR]
// answers {satisfaction_ratings, meta: {has_more, after_cursor}, links: {next}}. A rating names its
// ticket; it belongs to the partner of that ticket as stored. The next poll starts at the newest
// rating's updated_at seen (the endpoint filters by time, not by a lasting cursor). A page[after]
// cursor Zendesk no longer accepts (400 or 422) restarts the window at its start: the list's
// order is not promised, so only the window's start is a position every rating before is stored.
class ZendeskRatings final : public Connector {
 public:
  explicit ZendeskRatings(config::SourceConfig s) : s_(std::move(s)) {}

  std::string kind() const override { return "surveys"; }
  std::string stream() const override { return "satisfaction_ratings"; }
  std::string start_cursor(core::Instant since) const override {
    return detail::cursor_text({{"since", std::chrono::floor<std::chrono::seconds>(since).time_since_epoch().count()}});
  }

  std::optional<std::string> restart_after(const net::HttpResponse& r, const std::string& cursor) const override {
    const json c = detail::cursor_json(cursor);
    if ((r.status != 400 && r.status != 422) || !detail::cstr(c, "after") || !detail::cint(c, "since")) return std::nullopt;
    return detail::cursor_text({{"since", *detail::cint(c, "since")}});
  }

  net::HttpRequest request(const std::string& cursor, core::Instant since) const override {
    const json c = detail::cursor_json(cursor);
    const auto from = detail::cint(c, "since").value_or(std::chrono::floor<std::chrono::seconds>(since).time_since_epoch().count());
    std::string url = s_.url + "/api/v2/satisfaction_ratings?score=received&start_time=" + std::to_string(from) +
                      "&page%5Bsize%5D=" + std::to_string(std::min(s_.page_size, 100));
    if (auto after = detail::cstr(c, "after")) url += "&page%5Bafter%5D=" + net::url_encode(*after);
    return {"GET", url, {}, {}, {}};
  }

  std::expected<Page, std::string> parse_page(const net::HttpResponse& resp, const std::string& cursor) const override {
    auto body = detail::parse_body(resp);
    if (!body) return std::unexpected(body.error());
    const json& j = *body;
    if (!j.is_object() || !j.contains("satisfaction_ratings") || !j["satisfaction_ratings"].is_array()) {
      return std::unexpected("no 'satisfaction_ratings' array");
    }
    const json c = detail::cursor_json(cursor);
    std::int64_t hwm = detail::cint(c, "hwm").value_or(detail::cint(c, "since").value_or(0));
    Page page;
    for (const auto& r : j["satisfaction_ratings"]) {
      if (!r.is_object() || !r.contains("id")) return std::unexpected("a rating without an id");
      const std::string score = detail::text_of(r.value("score", json()));
      if (score != "good" && score != "bad") continue;  // offered or unoffered: no answer yet
      json rec{{"id", detail::text_of(r["id"])}, {"score", score}, {"type", "csat"}};
      detail::put_instant(rec, "submitted_at", r.value("created_at", json()));
      detail::put_instant(rec, "updated_at", r.value("updated_at", json()));
      if (!rec.contains("submitted_at")) return std::unexpected("rating " + rec["id"].get<std::string>() + " has no created_at");
      if (r.contains("ticket_id") && !r["ticket_id"].is_null()) rec["ticket_id"] = detail::text_of(r["ticket_id"]);
      if (r.contains("comment") && r["comment"].is_string() && !r["comment"].get<std::string>().empty()) rec["comment"] = r["comment"];
      if (auto u = wire::instant(rec.value("updated_at", rec["submitted_at"]))) {
        hwm = std::max(hwm, std::chrono::floor<std::chrono::seconds>(*u).time_since_epoch().count());
      }
      page.records.push_back(std::move(rec));
    }
    const bool more = j.contains("meta") && j["meta"].is_object() && j["meta"].value("has_more", false) &&
                      j["meta"].contains("after_cursor") && j["meta"]["after_cursor"].is_string();
    json next;
    if (more) {
      next = {{"since", detail::cint(c, "since").value_or(hwm)}, {"after", j["meta"]["after_cursor"]}, {"hwm", hwm}};
    } else {
      page.done = true;
      next = {{"since", hwm}};
    }
    page.next_cursor = detail::cursor_text(next);
    return page;
  }

  net::HttpRequest probe() const override { return {"GET", s_.url + "/api/v2/users/me.json", {}, {}, {}}; }

 private:
  config::SourceConfig s_;
};

}  // namespace

std::unique_ptr<Connector> make_zendesk(const config::SourceConfig& s) { return std::make_unique<Zendesk>(s); }
std::unique_ptr<Connector> make_zendesk_ratings(const config::SourceConfig& s) { return std::make_unique<ZendeskRatings>(s); }
std::unique_ptr<Connector> make_zendesk_ticket_events(const config::SourceConfig& s) {
  return std::make_unique<ZendeskTicketEvents>(s);
}

}  // namespace pactwatch::sources
