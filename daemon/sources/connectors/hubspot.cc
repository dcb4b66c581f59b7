// HubSpot CRM v3: deals by search, in windows of hs_lastmodifieddate, each read in the order of
// the deals' ids.
//   POST /crm/v3/objects/deals/search {filterGroups: [hs_lastmodifieddate GTE since, LTE until,
//        hs_object_id GT last id stored], sorts: hs_object_id ASCENDING, properties, limit}
// A window [since, until] is closed when its first request is made (until = now) and read by id,
// each request a new search that starts after the last id stored: no `after` offsets, so a deal
// edited mid-sync (which leaves the window: its new hs_lastmodifieddate is past `until`) moves
// nothing else, and a search never comes near the 10,000 results one query may page through. The
// next window starts a little before the last one's end (search indexes changes with a short
// delay): deals read twice are upserted as they were. Every property value is a string (amounts,
// and dates as ISO text or epoch milliseconds).
#include "common.h"

namespace pactwatch::sources {

namespace {

using nlohmann::json;

// How far before the previous window's end the next one starts: search shows a change after a
// short indexing delay, so the newest changes of a window may be found only by the next.
constexpr std::int64_t kIndexLagMs = 5 * 60 * 1000;

// Numeric ids as text, compared as numbers (a longer id is a larger one).
bool id_less(const std::string& a, const std::string& b) { return a.size() != b.size() ? a.size() < b.size() : a < b; }

class HubSpot final : public Connector {
 public:
  explicit HubSpot(config::SourceConfig s)
      : s_(std::move(s)), limit_(std::min(s_.page_size, 200)), currency_(s_.option("currency")),
        account_property_(s_.option("account_property", "partner_id")), won_stage_(s_.option("won_stage", "closedwon")) {}

  std::string kind() const override { return "deals"; }
  int default_requests_per_minute() const override { return 240; }  // search: 4 requests a second
  std::string start_cursor(core::Instant since) const override { return detail::cursor_text({{"since", core::to_unix_ms(since)}}); }

  // A window without an end gets one now. A cursor of an earlier pactwatch (paged by `after`)
  // restarts its window from its start: its offsets may have skipped deals.
  std::string begin(const std::string& cursor, core::Instant now) const override {
    json c = detail::cursor_json(cursor);
    json out{{"since", detail::cint(c, "since").value_or(core::to_unix_ms(now) - kIndexLagMs)}};
    if (detail::cstr(c, "after")) return detail::cursor_text(out);  // the old form
    out["until"] = detail::cint(c, "until").value_or(core::to_unix_ms(now));
    if (auto id = detail::cstr(c, "after_id")) out["after_id"] = *id;
    return detail::cursor_text(out);
  }

  net::HttpRequest request(const std::string& cursor, core::Instant since) const override {
    const json c = detail::cursor_json(cursor);
    const std::int64_t from = detail::cint(c, "since").value_or(core::to_unix_ms(since));
    json filters = json::array();
    filters.push_back({{"propertyName", "hs_lastmodifieddate"}, {"operator", "GTE"}, {"value", std::to_string(from)}});
    if (auto until = detail::cint(c, "until")) {
      filters.push_back({{"propertyName", "hs_lastmodifieddate"}, {"operator", "LTE"}, {"value", std::to_string(*until)}});
    }
    if (auto id = detail::cstr(c, "after_id")) filters.push_back({{"propertyName", "hs_object_id"}, {"operator", "GT"}, {"value", *id}});
    json body{{"filterGroups", {{{"filters", filters}}}},
              {"sorts", {{{"propertyName", "hs_object_id"}, {"direction", "ASCENDING"}}}},
              {"properties", {"amount", "deal_currency_code", "dealstage", "closedate", "createdate", "hs_lastmodifieddate", account_property_}},
              {"limit", limit_}};
    net::HttpRequest r;
    r.method = "POST";
    r.url = s_.url + "/crm/v3/objects/deals/search";
    r.headers.emplace_back("Content-Type", "application/json");
    r.body = body.dump();
    return r;
  }

  std::expected<Page, std::string> parse_page(const net::HttpResponse& resp, const std::string& cursor) const override {
    auto body = detail::parse_body(resp);
    if (!body) return std::unexpected(body.error());
    const json& j = *body;
    if (!j.is_object() || !j.contains("results") || !j["results"].is_array()) return std::unexpected("no 'results' array");
    const json c = detail::cursor_json(cursor);
    std::string last_id = detail::cstr(c, "after_id").value_or("");
    Page page;
    for (const auto& d : j["results"]) {
      if (!d.is_object() || !d.contains("id") || !d.contains("properties") || !d["properties"].is_object()) {
        return std::unexpected("a deal without id or properties");
      }
      const auto& p = d["properties"];
      auto prop = [&](const std::string& k) { return p.contains(k) ? p[k] : json(); };
      json rec{{"id", detail::text_of(d["id"])}};
      detail::put_instant(rec, "created_at", prop("createdate").is_null() ? d.value("createdAt", json()) : prop("createdate"));
      detail::put_instant(rec, "updated_at", prop("hs_lastmodifieddate").is_null() ? d.value("updatedAt", json()) : prop("hs_lastmodifieddate"));
      if (!rec.contains("updated_at")) return std::unexpected("deal " + rec["id"].get<std::string>() + " lacks hs_lastmodifieddate");
      const std::string stage = detail::text_of(prop("dealstage"));
      if (!stage.empty()) {
        rec["stage"] = stage;
        rec["won"] = stage == won_stage_;
        if (stage == won_stage_ || stage == "closedlost") detail::put_instant(rec, "closed_at", prop("closedate"));
      }
      if (const auto amount = prop("amount"); !amount.is_null() && !detail::text_of(amount).empty()) {
        std::string cur = detail::text_of(prop("deal_currency_code"));
        if (cur.empty()) cur = currency_;
        if (cur.empty()) return std::unexpected("deal amounts need a currency: set options.currency");
        rec["amount"] = *detail::decimal_text(amount);
        rec["currency"] = cur;
      }
      if (const std::string a = detail::text_of(prop(account_property_)); !a.empty()) rec["account"] = a;
      if (d.value("archived", false)) rec["stage"] = "archived";
      if (last_id.empty() || id_less(last_id, rec["id"].get<std::string>())) last_id = rec["id"].get<std::string>();
      page.records.push_back(std::move(rec));
    }
    const bool more = j.contains("paging") && j["paging"].is_object() && j["paging"].contains("next") && !j["results"].empty();
    const std::int64_t since = detail::cint(c, "since").value_or(0);
    json next;
    if (!more || !detail::cint(c, "until")) {
      page.done = !more;
      // The window is read: the next starts a little before its end (or, for a cursor without an
      // end, where it started).
      const auto until = detail::cint(c, "until");
      next = {{"since", until ? std::max(since, *until - kIndexLagMs) : since}};
    } else {
      next = {{"since", since}, {"until", *detail::cint(c, "until")}, {"after_id", last_id}};
    }
    page.next_cursor = detail::cursor_text(next);
    return page;
  }

  net::HttpRequest probe() const override { return {"GET", s_.url + "/crm/v3/objects/deals?limit=1", {}, {}, {}}; }
  std::string describe_probe(const net::HttpResponse& r) const override {
    const auto daily = r.header("X-HubSpot-RateLimit-Daily-Remaining");
    return "deals readable" + (daily ? ", daily requests remaining " + *daily : std::string());
  }

 private:
  config::SourceConfig s_;
  int limit_;
  std::string currency_, account_property_, won_stage_;
};

}  // namespace

std::unique_ptr<Connector> make_hubspot(const config::SourceConfig& s) { return std::make_unique<HubSpot>(s); }

}  // namespace pactwatch::sources
