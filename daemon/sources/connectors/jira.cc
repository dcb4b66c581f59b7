// Jira Service Management (Cloud): enhanced JQL search, oldest change first, with the changelog
// for status history.
//   GET /rest/api/3/search/jql?jql=(JQL) AND updated >= "yyyy-MM-dd HH:mm" ORDER BY updated ASC
//       &fields=...&expand=changelog&maxResults=N[&nextPageToken=T]
// The last page may simply lack nextPageToken (JRACLOUD-92184): a missing token or isLast ends
// the sync. A page token expires (after days, or sooner): a 400 about it restarts the search at
// the newest `updated` stored. JQL dates are read in the API user's time zone: option `timezone`,
// else the zone /rest/api/3/myself reports (read before each sync); the window starts a minute
// early, earlier still where a local time is ambiguous (a clock going back), and upserts make the
// overlap harmless. When the zone cannot be known, windows start 14 hours early (every zone's
// offset is within that).
#include <date/tz.h>
#include <spdlog/spdlog.h>

#include "common.h"

namespace pactwatch::sources {

namespace {

using nlohmann::json;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class Jira final : public Connector {
 public:
  explicit Jira(config::SourceConfig s) : s_(std::move(s)) {}

  std::string kind() const override { return "tickets"; }

  std::optional<net::HttpRequest> setup_request() const override {
    if (!s_.option("timezone").empty()) return std::nullopt;
    return net::HttpRequest{"GET", s_.url + "/rest/api/3/myself", {}, {}, {}};
  }

  std::expected<void, std::string> accept_setup(const net::HttpResponse& r) override {
    auto j = json::parse(r.body, nullptr, false);
    const std::string tz = r.status >= 200 && r.status < 300 && j.is_object() ? detail::text_of(j.value("timeZone", json())) : "";
    zone_ = nullptr;
    if (!tz.empty()) {
      try {
        zone_ = date::locate_zone(tz);
      } catch (const std::exception&) {
        zone_ = nullptr;
      }
    }
    if (!zone_) {
      spdlog::warn("jira {}: the API user's time zone is unknown ({}); JQL windows start 14 hours early (set options.timezone)",
                   s_.name, tz.empty() ? "HTTP " + std::to_string(r.status) + " from /rest/api/3/myself" : "'" + tz + "'");
    }
    zone_asked_ = true;
    return {};
  }

  std::optional<std::string> restart_after(const net::HttpResponse& r, const std::string& cursor) const override {
    const json c = detail::cursor_json(cursor);
    if (r.status != 400 || !detail::cstr(c, "token")) return std::nullopt;
    const std::string body = lower(r.body);
    if (body.find("token") == std::string::npos) return std::nullopt;
    // Every issue ordered before the newest `updated` stored is stored: start there.
    const auto from = detail::cint(c, "hwm").value_or(detail::cint(c, "since").value_or(0));
    return detail::cursor_text({{"since", from}});
  }
  std::string start_cursor(core::Instant since) const override {
    return detail::cursor_text({{"since", core::to_unix_ms(since)}});
  }

  net::HttpRequest request(const std::string& cursor, core::Instant since) const override {
    const json c = detail::cursor_json(cursor);
    const core::Instant from = detail::cint(c, "since") ? core::from_unix_ms(*detail::cint(c, "since")) : since;
    std::string jql;
    if (const auto extra = s_.option("jql"); !extra.empty()) jql = "(" + extra + ") AND ";
    jql += "updated >= \"" + local_minute(from - std::chrono::minutes(1)) + "\" ORDER BY updated ASC";
    std::string fields = "created,updated,resolutiondate,status,priority,labels,project";
    for (const auto* key : {"account_field", "sla_fields"}) {
      if (const auto f = s_.option(key); !f.empty()) fields += "," + f;
    }
    net::HttpRequest r;
    r.url = s_.url + "/rest/api/3/search/jql?jql=" + net::url_encode(jql) + "&fields=" + net::url_encode(fields) +
            "&expand=changelog&maxResults=" + std::to_string(std::min(s_.page_size, 100));
    if (auto token = detail::cstr(c, "token")) r.url += "&nextPageToken=" + net::url_encode(*token);
    return r;
  }

  std::expected<Page, std::string> parse_page(const net::HttpResponse& resp, const std::string& cursor) const override {
    auto body = detail::parse_body(resp);
    if (!body) return std::unexpected(body.error());
    const json& j = *body;
    if (!j.is_object() || !j.contains("issues") || !j["issues"].is_array()) return std::unexpected("no 'issues' array");
    json c = detail::cursor_json(cursor);
    std::int64_t hwm = detail::cint(c, "hwm").value_or(detail::cint(c, "since").value_or(0));
    Page page;
    const std::string account_field = s_.option("account_field");
    for (const auto& issue : j["issues"]) {
      if (!issue.is_object() || !issue.contains("key") || !issue.contains("fields") || !issue["fields"].is_object()) {
        return std::unexpected("an issue without key or fields (ask for fields)");
      }
      const auto& f = issue["fields"];
      json rec{{"id", detail::text_of(issue["key"])}};
      detail::put_instant(rec, "created_at", f.value("created", json()));
      detail::put_instant(rec, "updated_at", f.value("updated", json()));
      if (!rec.contains("created_at") || !rec.contains("updated_at")) {
        return std::unexpected("issue " + rec["id"].get<std::string>() + " lacks created or updated");
      }
      detail::put_instant(rec, "solved_at", f.value("resolutiondate", json()));
      if (f.contains("status") && f["status"].is_object()) {
        const auto& st = f["status"];
        const std::string category = st.contains("statusCategory") && st["statusCategory"].is_object()
                                         ? detail::text_of(st["statusCategory"].value("key", json()))
                                         : "";
        rec["status"] = category == "done" ? "solved" : category == "new" ? "new" : "open";
        rec["custom"] = {{"jira_status", detail::text_of(st.value("name", json()))}};
      }
      if (f.contains("priority") && f["priority"].is_object()) {
        const std::string p = lower(detail::text_of(f["priority"].value("name", json())));
        rec["priority"] = p == "highest" || p == "blocker" || p == "critical" ? "urgent"
                        : p == "high"                                          ? "high"
                        : p == "low" || p == "lowest"                          ? "low"
                                                                               : "normal";
      }
      if (f.contains("labels") && f["labels"].is_array()) rec["tags"] = f["labels"];
      if (!account_field.empty() && f.contains(account_field) && !f[account_field].is_null()) {
        // A select list ({id, value}), a plain value, or a list of them: JSM's Organizations
        // field is a list of {id, name}. A list attributes by the first id a partner claims.
        const auto& a = f[account_field];
        auto id_of = [](const json& v) { return v.is_object() ? detail::text_of(v.value("id", v.value("value", json()))) : detail::text_of(v); };
        if (a.is_array()) {
          json ids = json::array();
          for (const auto& v : a) {
            if (const std::string id = id_of(v); !id.empty()) ids.push_back(id);
          }
          if (!ids.empty()) {
            rec["account"] = ids;
            std::string all;
            for (const auto& id : ids) all += (all.empty() ? "" : ",") + id.get<std::string>();
            rec["custom"][account_field] = all;  // every organisation, whichever attributes it
          }
        } else {
          rec["account"] = id_of(a);
        }
      } else if (f.contains("project") && f["project"].is_object()) {
        rec["account"] = detail::text_of(f["project"].value("key", json()));
      }
      if (issue.contains("changelog") && issue["changelog"].is_object() && issue["changelog"].contains("histories")) {
        json history = json::array();
        for (const auto& h : issue["changelog"]["histories"]) {
          if (!h.is_object() || !h.contains("items") || !h["items"].is_array()) continue;
          auto at = wire::instant(h.value("created", json()));
          if (!at) continue;
          for (const auto& item : h["items"]) {
            if (item.is_object() && item.value("field", json()) == "status") {
              history.push_back({{"at", wire::rfc3339(*at)}, {"status", lower(detail::text_of(item.value("toString", json())))}});
            }
          }
        }
        if (!history.empty()) rec["status_history"] = history;
      }
      // JSM SLA fields: each cycle's elapsed and goal in milliseconds, and whether it breached.
      for (const auto& sla : split(s_.option("sla_fields"))) {
        if (!f.contains(sla) || !f[sla].is_object()) continue;
        const auto& o = f[sla];
        const json* cycle = nullptr;
        if (o.contains("ongoingCycle") && o["ongoingCycle"].is_object()) cycle = &o["ongoingCycle"];
        else if (o.contains("completedCycles") && o["completedCycles"].is_array() && !o["completedCycles"].empty()) cycle = &o["completedCycles"].back();
        if (!cycle) continue;
        auto millis = [&](const char* k) -> json {
          if (cycle->contains(k) && (*cycle)[k].is_object() && (*cycle)[k].contains("millis")) return (*cycle)[k]["millis"];
          return nullptr;
        };
        if (millis("elapsedTime").is_number_integer()) rec["custom"][sla + "_elapsed_ms"] = millis("elapsedTime");
        if (millis("goalDuration").is_number_integer()) rec["custom"][sla + "_goal_ms"] = millis("goalDuration");
        if (cycle->contains("breached") && (*cycle)["breached"].is_boolean()) rec["custom"][sla + "_breached"] = (*cycle)["breached"].get<bool>() ? "true" : "false";
      }
      hwm = std::max(hwm, core::to_unix_ms(*core::parse_rfc3339(rec["updated_at"].get<std::string>())));
      page.records.push_back(std::move(rec));
    }
    const bool last = !j.contains("nextPageToken") || !j["nextPageToken"].is_string() || j.value("isLast", false);
    json next;
    if (last) {
      page.done = true;
      next = {{"since", hwm}};
    } else {
      next = {{"since", detail::cint(c, "since").value_or(hwm)}, {"token", j["nextPageToken"]}, {"hwm", hwm}};
    }
    page.next_cursor = detail::cursor_text(next);
    return page;
  }

  net::HttpRequest probe() const override { return {"GET", s_.url + "/rest/api/3/myself", {}, {}, {}}; }
  std::string describe_probe(const net::HttpResponse& r) const override {
    auto j = json::parse(r.body, nullptr, false);
    if (!j.is_object() || !j.contains("accountId")) return Connector::describe_probe(r);
    return "authenticated as " + detail::text_of(j.value("displayName", json())) + " (time zone " +
           detail::text_of(j.value("timeZone", json())) +
           "; JQL dates are read in it: each sync reads it here unless options.timezone is set)";
  }

 private:
  static std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::string cur;
    for (char ch : s + ",") {
      if (ch == ',') {
        if (!cur.empty()) out.push_back(cur);
        cur.clear();
      } else if (ch != ' ') {
        cur += ch;
      }
    }
    return out;
  }

  // A JQL date literal, in the API user's time zone, that Jira reads as an instant no later than
  // `t`: a local time the clock passes twice (the hour a clock goes back) is read by Jira as either,
  // so the literal moves back until both readings are at or before `t`.
  std::string local_minute(core::Instant t) const {
    const date::time_zone* zone = zone_;
    if (const auto configured = s_.option("timezone"); !configured.empty()) zone = date::locate_zone(configured);
    if (!zone) {
      if (zone_asked_) t -= std::chrono::hours(14);  // the zone is unknown: early enough for any zone
      zone = date::locate_zone("UTC");
    }
    for (int i = 0; i < 8; ++i) {
      const auto at = date::sys_seconds(std::chrono::floor<std::chrono::seconds>(t).time_since_epoch());
      const auto local = std::chrono::floor<std::chrono::minutes>(zone->to_local(at));
      const auto info = zone->get_info(local);
      const auto as_utc = date::sys_seconds(local.time_since_epoch());
      auto later = as_utc - info.first.offset;
      if (info.result == date::local_info::ambiguous) later = std::max(later, as_utc - info.second.offset);
      if (later <= at) return date::format("%Y-%m-%d %H:%M", local);
      t -= std::chrono::minutes(30);
    }
    // Not reached: no clock goes back four hours at once.
    return date::format("%Y-%m-%d %H:%M", std::chrono::floor<std::chrono::minutes>(
                                              zone->to_local(date::sys_seconds(std::chrono::floor<std::chrono::seconds>(t).time_since_epoch()))));
  }

  config::SourceConfig s_;
  const date::time_zone* zone_ = nullptr;  // the API user's, from /rest/api/3/myself
  bool zone_asked_ = false;                // asked (a null zone_ then: it could not be known)
};

}  // namespace

std::unique_ptr<Connector> make_jira(const config::SourceConfig& s) { return std::make_unique<Jira>(s); }

}  // namespace pactwatch::sources
