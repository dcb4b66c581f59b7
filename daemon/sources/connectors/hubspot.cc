// HubSpot CRM v3: deals by search on hs_lastmodifieddate, oldest first.
//   POST /crm/v3/objects/deals/search {filterGroups: hs_lastmodifieddate GTE since_ms, sorts, properties, limit, after}
// Every property value is a string (amounts, and dates as ISO text or epoch milliseconds). One
// search returns at most 10,000 results: before paging past that, the window restarts at the
// newest hs_lastmodifieddate seen.
#include "common.h"

namespace pactwatch::sources {

namespace {

using nlohmann::json;

constexpr int kSearchCeiling = 10000;

class HubSpot final : public Connector {
 public:
  explicit HubSpot(config::SourceConfig s)
      : s_(std::move(s)), limit_(std::min(s_.page_size, 200)), currency_(s_.option("currency")),
        account_property_(s_.option("account_property", "partner_id")), won_stage_(s_.option("won_stage", "closedwon")) {}

  std::string kind() const override { return "deals"; }
  int default_requests_per_minute() const override { return 240; }  // search: 4 requests a second
  std::string start_cursor(core::Instant since) const override {
    return detail::cursor_text({{"since", core::to_unix_ms(since)}, {"seen", 0}});
  }

  HttpRequest request(const std::string& cursor, core::Instant since) const override {
    const json c = detail::cursor_json(cursor);
    const std::int64_t from = detail::cint(c, "since").value_or(core::to_unix_ms(since));
    json body{{"filterGroups", {{{"filters", {{{"propertyName", "hs_lastmodifieddate"}, {"operator", "GTE"}, {"value", std::to_string(from)}}}}}}},
              {"sorts", {{{"propertyName", "hs_lastmodifieddate"}, {"direction", "ASCENDING"}}}},
              {"properties", {"amount", "deal_currency_code", "dealstage", "closedate", "createdate", "hs_lastmodifieddate", account_property_}},
              {"limit", limit_}};
    if (auto after = detail::cstr(c, "after")) body["after"] = *after;
    HttpRequest r;
    r.method = "POST";
    r.url = s_.url + "/crm/v3/objects/deals/search";
    r.headers.emplace_back("Content-Type", "application/json");
    r.body = body.dump();
    return r;
  }

  std::expected<Page, std::string> parse_page(const HttpResponse& resp, const std::string& cursor) const override {
    auto body = detail::parse_body(resp);
    if (!body) return std::unexpected(body.error());
    const json& j = *body;
    if (!j.is_object() || !j.contains("results") || !j["results"].is_array()) return std::unexpected("no 'results' array");
    json c = detail::cursor_json(cursor);
    std::int64_t hwm = detail::cint(c, "hwm").value_or(detail::cint(c, "since").value_or(0));
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
      hwm = std::max(hwm, core::to_unix_ms(*core::parse_rfc3339(rec["updated_at"].get<std::string>())));
      page.records.push_back(std::move(rec));
    }
    const std::int64_t seen = std::max<std::int64_t>(0, detail::cint(c, "seen").value_or(0)) + static_cast<std::int64_t>(j["results"].size());
    const bool more = j.contains("paging") && j["paging"].is_object() && j["paging"].contains("next") &&
                      j["paging"]["next"].is_object() && j["paging"]["next"].contains("after");
    json next;
    if (!more) {
      page.done = true;
      next = {{"since", hwm}, {"seen", 0}};
    } else if (seen + limit_ > kSearchCeiling) {
      next = {{"since", hwm}, {"seen", 0}};  // restart the window: search stops at 10,000 results
    } else {
      next = {{"since", detail::cint(c, "since").value_or(hwm)}, {"after", detail::text_of(j["paging"]["next"]["after"])}, {"seen", seen}, {"hwm", hwm}};
    }
    page.next_cursor = detail::cursor_text(next);
    return page;
  }

  HttpRequest probe() const override { return {"GET", s_.url + "/crm/v3/objects/deals?limit=1", {}, {}, {}}; }
  std::string describe_probe(const HttpResponse& r) const override {
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
