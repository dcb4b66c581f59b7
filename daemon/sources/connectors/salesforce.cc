// Salesforce REST: Opportunities by SOQL, following nextRecordsUrl, after an OAuth token
// (refresh-token grant when a refresh token is configured, else client credentials).
//   POST {token_url} grant_type=...&client_id=...&client_secret=...
//   GET  {instance_url}/services/data/vNN.N/query?q=SELECT ... WHERE SystemModstamp >= T ORDER BY SystemModstamp
// Errors are arrays [{message, errorCode}]; 403 REQUEST_LIMIT_EXCEEDED is the org's API limit (a
// rate limit, not an auth failure). Amount is a JSON number: converted once, as decimal text.
// Sessions expire whenever the org says (401 INVALID_SESSION_ID): the sync loop gets a new token
// each time. Query locators expire too (after inactivity, or when the user holds too many open):
// the next nextRecordsUrl answers 400 INVALID_QUERY_LOCATOR, and the query restarts at the newest
// SystemModstamp stored (>=, so records of that same second are read again, harmlessly).
#include "common.h"

namespace pactwatch::sources {

namespace {

using nlohmann::json;

class Salesforce final : public Connector {
 public:
  explicit Salesforce(config::SourceConfig s)
      : s_(std::move(s)), version_(s_.option("api_version", "v60.0")), currency_(s_.option("currency")),
        account_field_(s_.option("account_field", "PartnerAccountId")) {}

  std::string kind() const override { return "deals"; }
  bool needs_token() const override { return true; }
  std::string bearer() const override { return token_; }
  std::string start_cursor(core::Instant since) const override {
    return detail::cursor_text({{"since", detail::query_time(since, "%Y-%m-%dT%H:%M:%SZ")}});
  }

  net::HttpRequest token_request(const std::string& secret, const std::string& refresh) const override {
    net::HttpRequest r;
    r.method = "POST";
    r.url = s_.token_url.empty() ? s_.url + "/services/oauth2/token" : s_.token_url;
    r.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    r.body = "client_id=" + net::url_encode(s_.user) + "&client_secret=" + net::url_encode(secret);
    r.body += refresh.empty() ? "&grant_type=client_credentials" : "&grant_type=refresh_token&refresh_token=" + net::url_encode(refresh);
    return r;
  }

  std::expected<void, std::string> accept_token(const net::HttpResponse& r) override {
    auto j = json::parse(r.body, nullptr, false);
    if (!j.is_object() || !j.contains("access_token") || !j["access_token"].is_string()) {
      return std::unexpected("the token endpoint answered without an access_token");
    }
    token_ = j["access_token"].get<std::string>();
    instance_ = j.contains("instance_url") && j["instance_url"].is_string() ? j["instance_url"].get<std::string>() : s_.url;
    while (!instance_.empty() && instance_.back() == '/') instance_.pop_back();
    return {};
  }

  bool rate_limited(const net::HttpResponse& r) const override {
    if (r.status == 429) return true;
    return r.status == 403 && r.body.find("REQUEST_LIMIT_EXCEEDED") != std::string::npos;
  }

  std::optional<std::string> restart_after(const net::HttpResponse& r, const std::string& cursor) const override {
    const json c = detail::cursor_json(cursor);
    if (r.status != 400 || r.body.find("INVALID_QUERY_LOCATOR") == std::string::npos || !detail::cstr(c, "next")) return std::nullopt;
    // Every record ordered before the newest SystemModstamp stored is stored: start there.
    const auto from = detail::cstr(c, "hwm").value_or(detail::cstr(c, "since").value_or(""));
    if (from.empty()) return std::nullopt;
    return detail::cursor_text({{"since", from}});
  }

  net::HttpRequest request(const std::string& cursor, core::Instant since) const override {
    const json c = detail::cursor_json(cursor);
    net::HttpRequest r;
    if (auto next = detail::cstr(c, "next")) {
      r.url = base() + *next;
      return r;
    }
    const std::string from = detail::cstr(c, "since").value_or(detail::query_time(since, "%Y-%m-%dT%H:%M:%SZ"));
    std::string soql = "SELECT Id, Amount, StageName, CloseDate, IsClosed, IsWon, CreatedDate, SystemModstamp, " + account_field_;
    if (!s_.option("currency_field").empty()) soql += ", " + s_.option("currency_field");
    soql += " FROM Opportunity WHERE SystemModstamp >= " + from + " ORDER BY SystemModstamp ASC";
    r.url = base() + "/services/data/" + version_ + "/query?q=" + net::url_encode(soql);
    return r;
  }

  std::expected<Page, std::string> parse_page(const net::HttpResponse& resp, const std::string& cursor) const override {
    auto body = detail::parse_body(resp);
    if (!body) return std::unexpected(body.error());
    const json& j = *body;
    if (!j.is_object() || !j.contains("records") || !j["records"].is_array() || !j.contains("done") || !j["done"].is_boolean()) {
      return std::unexpected("expected {done, records}");
    }
    json c = detail::cursor_json(cursor);
    std::string hwm = detail::cstr(c, "hwm").value_or(detail::cstr(c, "since").value_or(""));
    Page page;
    for (const auto& o : j["records"]) {
      if (!o.is_object() || !o.contains("Id")) return std::unexpected("a record without Id");
      json rec{{"id", detail::text_of(o["Id"])}};
      detail::put_instant(rec, "created_at", o.value("CreatedDate", json()));
      detail::put_instant(rec, "updated_at", o.value("SystemModstamp", json()));
      if (!rec.contains("updated_at")) return std::unexpected("opportunity " + rec["id"].get<std::string>() + " lacks SystemModstamp");
      // SOQL datetime literal for the next window: the newest SystemModstamp seen, in UTC.
      const std::string mod = detail::query_time(*core::parse_rfc3339(rec["updated_at"].get<std::string>()), "%Y-%m-%dT%H:%M:%SZ");
      if (mod > hwm) hwm = mod;
      if (o.contains("StageName") && o["StageName"].is_string()) rec["stage"] = o["StageName"];
      if (o.contains("IsWon") && o["IsWon"].is_boolean()) rec["won"] = o["IsWon"];
      if (o.value("IsClosed", false)) detail::put_instant(rec, "closed_at", o.value("CloseDate", json()));
      if (o.contains("Amount") && !o["Amount"].is_null()) {
        const auto amount = detail::decimal_text(o["Amount"]);
        std::string cur = currency_;
        if (const auto f = s_.option("currency_field"); !f.empty() && o.contains(f) && o[f].is_string()) cur = o[f].get<std::string>();
        if (cur.empty()) return std::unexpected("opportunity amounts need a currency: set options.currency (or options.currency_field)");
        if (!amount) {
          page.rejected.push_back({rec["id"].get<std::string>(), "Amount " + detail::text_of(o["Amount"]) + " is not a decimal amount", o});
          continue;
        }
        rec["amount"] = *amount;
        rec["currency"] = cur;
      }
      if (o.contains(account_field_) && !o[account_field_].is_null()) rec["account"] = detail::text_of(o[account_field_]);
      page.records.push_back(std::move(rec));
    }
    json next;
    if (j["done"].get<bool>()) {
      page.done = true;
      next = {{"since", hwm}};
    } else {
      if (!j.contains("nextRecordsUrl") || !j["nextRecordsUrl"].is_string()) return std::unexpected("done is false but there is no nextRecordsUrl");
      next = {{"since", detail::cstr(c, "since").value_or(hwm)}, {"next", j["nextRecordsUrl"]}, {"hwm", hwm}};
    }
    page.next_cursor = detail::cursor_text(next);
    return page;
  }

  net::HttpRequest probe() const override { return {"GET", base() + "/services/data/" + version_ + "/limits", {}, {}, {}}; }
  std::string describe_probe(const net::HttpResponse& r) const override {
    auto j = json::parse(r.body, nullptr, false);
    std::string out = "instance " + instance_;
    if (j.is_object() && j.contains("DailyApiRequests") && j["DailyApiRequests"].is_object()) {
      out += ", daily API requests remaining " + detail::text_of(j["DailyApiRequests"].value("Remaining", json())) + " of " +
             detail::text_of(j["DailyApiRequests"].value("Max", json()));
    }
    return out;
  }

 private:
  std::string base() const { return instance_.empty() ? s_.url : instance_; }

  config::SourceConfig s_;
  std::string version_, currency_, account_field_;
  std::string token_, instance_;
};

}  // namespace

std::unique_ptr<Connector> make_salesforce(const config::SourceConfig& s) { return std::make_unique<Salesforce>(s); }

}  // namespace pactwatch::sources
