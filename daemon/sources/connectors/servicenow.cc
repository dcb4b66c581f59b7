// ServiceNow Table API: a table (option `table`, default incident) ordered by update time and sys_id.
//   GET /api/now/table/incident?sysparm_query=sys_updated_on>=T^ORDERBYsys_updated_on^ORDERBYsys_id
//       &sysparm_limit=N&sysparm_offset=0&sysparm_fields=...&sysparm_display_value=false
//       &sysparm_exclude_reference_link=true
// Every value is a string; times are "YYYY-MM-DD HH:MM:SS" UTC. Pages follow the last record
// stored, not an offset (records updated or inserted mid-sync would shift an offset and skip
// others): the next page asks for sys_updated_on>AT, or the same second with a larger sys_id
// (sys_updated_on>AT^NQsys_updated_on=AT^sys_id>ID). More pages while a Link rel="next" header
// comes (or a page is full); the next poll starts at the newest update seen (that second is read
// again: seconds are the field's precision).
// With `table: task_sla` the records are SLA timers of tasks and become events named "task_sla":
// at its start, the business duration ("1970-01-01 HH:MM:SS", days rolling into the date),
// late when breached, the task and the SLA definition in custom fields.
#include "common.h"

namespace pactwatch::sources {

namespace {

using nlohmann::json;

class ServiceNow final : public Connector {
 public:
  explicit ServiceNow(config::SourceConfig s) : s_(std::move(s)), table_(s_.option("table", "incident")) {}

  std::string kind() const override { return sla() ? "events" : "tickets"; }
  std::string start_cursor(core::Instant since) const override {
    return detail::cursor_text({{"since", detail::query_time(since, "%Y-%m-%d %H:%M:%S")}});
  }

  net::HttpRequest request(const std::string& cursor, core::Instant since) const override {
    const json c = detail::cursor_json(cursor);
    const std::string from = detail::cstr(c, "since").value_or(detail::query_time(since, "%Y-%m-%d %H:%M:%S"));
    const std::string extra = s_.option("query").empty() ? "" : s_.option("query") + "^";
    std::string query;
    const auto at = detail::cstr(c, "at");
    const auto id = detail::cstr(c, "id");
    if (at && id) {
      // After the last record stored: a later second, or the same second and a larger sys_id.
      query = extra + "sys_updated_on>" + *at + "^NQ" + extra + "sys_updated_on=" + *at + "^sys_id>" + *id;
    } else {
      query = extra + "sys_updated_on>=" + from;  // a cursor of an earlier pactwatch (an offset) restarts its window
    }
    query += "^ORDERBYsys_updated_on^ORDERBYsys_id";
    net::HttpRequest r;
    r.url = s_.url + "/api/now/table/" + table_ + "?sysparm_query=" + net::url_encode(query) +
            "&sysparm_limit=" + std::to_string(s_.page_size) + "&sysparm_offset=0" +
            "&sysparm_fields=" + net::url_encode(sla() ? "sys_id,task,task.number,task.company,sla,stage,has_breached,start_time,end_time,"
                                                    "planned_end_time,business_duration,sys_updated_on"
                                                  : "sys_id,number,priority,state,opened_at,resolved_at,closed_at,sys_updated_on,company") +
            "&sysparm_display_value=false&sysparm_exclude_reference_link=true";
    return r;
  }

  std::expected<Page, std::string> parse_page(const net::HttpResponse& resp, const std::string& cursor) const override {
    auto body = detail::parse_body(resp);
    if (!body) return std::unexpected(body.error());
    const json& j = *body;
    if (!j.is_object() || !j.contains("result") || !j["result"].is_array()) return std::unexpected("no 'result' array");
    json c = detail::cursor_json(cursor);
    std::string hwm = detail::cstr(c, "at").value_or(detail::cstr(c, "since").value_or(""));
    std::string last_id = detail::cstr(c, "id").value_or("");
    // The position after this page: the greatest (sys_updated_on, sys_id) read.
    auto advance = [&](const std::string& updated, const std::string& id) {
      if (updated > hwm || (updated == hwm && id > last_id)) {
        hwm = updated;
        last_id = id;
      }
    };
    Page page;
    for (const auto& row : j["result"]) {
      if (!row.is_object() || !row.contains("sys_id")) return std::unexpected("a record without sys_id");
      auto value = [&](const char* k) -> json {
        if (!row.contains(k)) return nullptr;
        const auto& v = row[k];
        if (v.is_object()) return v.value("value", json());  // display_value=all or a reference link
        return v;
      };
      if (sla()) {
        auto rec = sla_event(value);
        if (!rec) return std::unexpected(rec.error());
        advance(detail::text_of(value("sys_updated_on")), detail::text_of(value("sys_id")));
        page.records.push_back(std::move(*rec));
        continue;
      }
      json rec{{"id", detail::text_of(value("number")).empty() ? detail::text_of(value("sys_id")) : detail::text_of(value("number"))}};
      detail::put_instant(rec, "created_at", value("opened_at"));
      detail::put_instant(rec, "updated_at", value("sys_updated_on"));
      if (!rec.contains("created_at") || !rec.contains("updated_at")) {
        return std::unexpected("record " + rec["id"].get<std::string>() + " lacks opened_at or sys_updated_on");
      }
      detail::put_instant(rec, "solved_at", value("resolved_at"));
      const std::string state = detail::text_of(value("state"));
      rec["status"] = state == "1" ? "new" : state == "3" ? "hold" : state == "6" ? "solved" : state == "7" || state == "8" ? "closed" : "open";
      const std::string pr = detail::text_of(value("priority"));
      rec["priority"] = pr == "1" ? "urgent" : pr == "2" ? "high" : pr == "3" ? "normal" : "low";
      if (const std::string company = detail::text_of(value("company")); !company.empty()) rec["account"] = company;
      advance(detail::text_of(value("sys_updated_on")), detail::text_of(value("sys_id")));
      page.records.push_back(std::move(rec));
    }
    const auto link = resp.header("Link");
    const bool more = link ? net::link_next(*link).has_value() : static_cast<int>(j["result"].size()) >= s_.page_size;
    json next;
    if (!more || hwm.empty() || last_id.empty()) {
      page.done = !more;
      next = {{"since", hwm.empty() ? detail::cstr(c, "since").value_or("") : hwm}};
    } else {
      next = {{"since", detail::cstr(c, "since").value_or(hwm)}, {"at", hwm}, {"id", last_id}};
    }
    page.next_cursor = detail::cursor_text(next);
    return page;
  }

  net::HttpRequest probe() const override {
    return {"GET", s_.url + "/api/now/table/" + table_ + "?sysparm_limit=1&sysparm_fields=sys_id", {}, {}, {}};
  }
  std::string describe_probe(const net::HttpResponse& r) const override {
    const auto total = r.header("X-Total-Count");
    return "table " + table_ + " readable" + (total ? ", " + *total + " records" : std::string());
  }

 private:
  bool sla() const { return table_ == "task_sla"; }

  template <typename Value>
  static std::expected<json, std::string> sla_event(Value& value) {
    json rec{{"id", detail::text_of(value("sys_id"))}, {"name", "task_sla"}};
    detail::put_instant(rec, "at", value("start_time"));
    detail::put_instant(rec, "updated_at", value("sys_updated_on"));
    if (!rec.contains("at") || !rec.contains("updated_at")) {
      return std::unexpected("task_sla " + rec["id"].get<std::string>() + " lacks start_time or sys_updated_on");
    }
    // A glide_duration: the duration as an instant after the epoch.
    if (auto d = wire::instant(value("business_duration"))) rec["duration_seconds"] = core::to_unix_ms(*d) / 1000;
    rec["late"] = detail::text_of(value("has_breached")) == "true";
    json custom{{"stage", detail::text_of(value("stage"))}, {"sla", detail::text_of(value("sla"))},
                {"task", detail::text_of(value("task.number")).empty() ? detail::text_of(value("task")) : detail::text_of(value("task.number"))}};
    rec["custom"] = custom;
    if (const std::string company = detail::text_of(value("task.company")); !company.empty()) rec["account"] = company;
    return rec;
  }

  config::SourceConfig s_;
  std::string table_;
};

}  // namespace

std::unique_ptr<Connector> make_servicenow(const config::SourceConfig& s) { return std::make_unique<ServiceNow>(s); }

}  // namespace pactwatch::sources
