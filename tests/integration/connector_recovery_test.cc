// Connectors that never wedge and never skip, against in-process simulations of the vendors' APIs
// (their paging, cursors and faults as the vendors document them), on SQLite and PostgreSQL:
// Salesforce sessions that expire every few requests and query locators that expire mid-sync,
// token endpoints that fail for a while, HubSpot deals edited while a search pages, Jira page tokens
// that expire and JQL dates read in the API user's time zone, ServiceNow and Freshdesk records
// updated mid-sync, backfills, and records that cannot be mapped.
#include <gtest/gtest.h>

#include <date/tz.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <regex>

#include "fake_api.h"
#include "pactwatch/core/clock.h"
#include "pactwatch/sources/sync.h"
#include "pg_server.h"
#include "temp_dir.h"

namespace pactwatch::sources {
namespace {

using nlohmann::json;
using testutils::FakeApi;
using testutils::json_reply;
using testutils::Reply;
using namespace std::chrono_literals;

core::Instant T(const char* s) { return *core::parse_rfc3339(s); }
std::int64_t ms(const char* s) { return core::to_unix_ms(T(s)); }

// Salesforce: "+0000" offsets, milliseconds.
std::string sf_time(std::int64_t at_ms) {
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>(((at_ms % 1000) + 1000) % 1000));
  return core::format_rfc3339(core::from_unix_ms(at_ms - ((at_ms % 1000) + 1000) % 1000)).substr(0, 19) + frac + "+0000";
}

// --- Salesforce: OAuth, SOQL with query locators ------------------------------------------------

// Opportunities behind the OAuth token endpoint and SOQL. A session lives `expire_every` data
// requests (then every request with it answers 401 INVALID_SESSION_ID until a new token is
// issued); query locators are snapshots of a query's result, dropped when told (the next
// nextRecordsUrl answers 400 INVALID_QUERY_LOCATOR).
class FakeSalesforce {
 public:
  struct Deal {
    std::string id;
    std::int64_t modstamp = 0;
    std::string amount = "1500.5";  // a JSON number as Salesforce writes it
  };
  std::vector<Deal> deals;
  int batch = 100;
  int expire_every = 0;
  bool refuse_every_token = false;      // the integration user is deactivated
  int drop_locators_at_request = 0;     // the data request (1-based) before which every locator is dropped
  bool drop_locators_always = false;
  std::map<int, Reply> token_faults;    // token request number (1-based) -> the endpoint's answer instead of a token
  int token_requests = 0, tokens_issued = 0, data_requests = 0, refused_sessions = 0, refused_locators = 0;
  std::vector<std::string> queries;     // the SOQL of each new query


  FakeSalesforce() { base_ = api.url(); }

  Reply answer(const httplib::Request& req) {
    if (req.path == "/services/oauth2/token") {
      if (auto f = token_faults.find(++token_requests); f != token_faults.end()) return f->second;
      ++tokens_issued;
      token_ = "00Dxx!token" + std::to_string(tokens_issued);
      uses_ = 0;
      return json_reply(json({{"access_token", token_}, {"instance_url", base_}, {"token_type", "Bearer"},
                              {"issued_at", "1791280000000"}, {"id", base_ + "/id/00D/005"}})
                            .dump());
    }
    ++data_requests;
    if (drop_locators_at_request == data_requests || drop_locators_always) locators_.clear();
    if (refuse_every_token || req.get_header_value("Authorization") != "Bearer " + token_ || (expire_every && uses_ >= expire_every)) {
      ++refused_sessions;
      return {401, R"([{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}])", "application/json", {}, {}};
    }
    ++uses_;
    const std::string prefix = "/services/data/v60.0/query";
    if (req.path == prefix) {
      const std::string q = req.get_param_value("q");
      queries.push_back(q);
      const auto at = q.find("SystemModstamp >= ");
      const auto from = core::to_unix_ms(*core::parse_rfc3339(q.substr(at + 18, 20)));
      std::vector<std::size_t> rows;
      for (std::size_t i = 0; i < deals.size(); ++i) {
        if (deals[i].modstamp >= from) rows.push_back(i);
      }
      std::stable_sort(rows.begin(), rows.end(), [&](std::size_t a, std::size_t b) { return deals[a].modstamp < deals[b].modstamp; });
      const std::string locator = "01gL" + std::to_string(++locator_count_);
      locators_[locator] = rows;
      return page(locator, 0);
    }
    if (req.path.starts_with(prefix + "/")) {
      const std::string rest = req.path.substr(prefix.size() + 1);
      const auto dash = rest.rfind('-');
      const std::string locator = rest.substr(0, dash);
      if (!locators_.contains(locator)) {
        ++refused_locators;
        return {400, R"([{"message":"invalid query locator","errorCode":"INVALID_QUERY_LOCATOR"}])", "application/json", {}, {}};
      }
      return page(locator, std::stoul(rest.substr(dash + 1)));
    }
    return {404, R"([{"errorCode":"NOT_FOUND","message":"The requested resource does not exist"}])", "application/json", {}, {}};
  }

  std::string url() const { return base_; }

 private:
  Reply page(const std::string& locator, std::size_t offset) {
    const auto& rows = locators_[locator];
    json records = json::array();
    for (std::size_t i = offset; i < rows.size() && i < offset + static_cast<std::size_t>(batch); ++i) {
      const Deal& d = deals[rows[i]];
      records.push_back(json::parse(R"({"attributes": {"type": "Opportunity"}, "Id": ")" + d.id + R"(", "Amount": )" + d.amount +
                                    R"(, "StageName": "Prospecting", "CloseDate": "2026-11-30", "IsClosed": false, "IsWon": false,
                                    "CreatedDate": "2026-10-01T00:00:00.000+0000", "SystemModstamp": ")" + sf_time(d.modstamp) +
                                    R"(", "PartnerAccountId": "001xx000003DGb2AAG"})"));
    }
    const std::size_t next = offset + static_cast<std::size_t>(batch);
    json body{{"totalSize", rows.size()}, {"done", next >= rows.size()}, {"records", records}};
    if (next < rows.size()) body["nextRecordsUrl"] = "/services/data/v60.0/query/" + locator + "-" + std::to_string(next);
    return json_reply(body.dump());
  }

  std::string base_, token_;
  int uses_ = 0;
  int locator_count_ = 0;
  std::map<std::string, std::vector<std::size_t>> locators_;

 public:
  FakeApi api{[this](const httplib::Request& req) { return answer(req); }};  // last: stopped first
};

// --- HubSpot: CRM search --------------------------------------------------------------------

// Deals behind POST /crm/v3/objects/deals/search: filter groups (OR) of filters (AND) on
// hs_lastmodifieddate and hs_object_id, the first sort only (ties by id), `limit` up to 200, `after`
// offsets into the live result, and at most `ceiling` results one query may page through (400
// past it). `edit` runs before the answer to request number `edit_at`.
class FakeHubSpot {
 public:
  struct Deal {
    std::int64_t id = 0;
    std::int64_t modified = 0;
    std::string amount = "1000";
    std::string stage = "appointmentscheduled";
  };
  std::vector<Deal> deals;
  std::size_t ceiling = 10000;
  int edit_at = 0;
  std::function<void(std::vector<Deal>&)> edit;
  int searches = 0;


  Reply answer(const httplib::Request& req) {
    if (req.path != "/crm/v3/objects/deals/search") return {404, "{}", "application/json", {}, {}};
    if (++searches == edit_at && edit) edit(deals);
    const auto body = json::parse(req.body);
    const std::size_t limit = body.value("limit", std::size_t{10});
    if (limit > 200) return {400, R"({"status":"error","message":"limit must be at most 200","category":"VALIDATION_ERROR"})", "application/json", {}, {}};
    const std::size_t after = body.contains("after") ? std::stoul(body["after"].get<std::string>()) : 0;
    if (after + limit > ceiling) {
      return {400, R"({"status":"error","message":"Search results are limited to 10,000 per query","category":"VALIDATION_ERROR"})",
              "application/json", {}, {}};
    }
    auto value_of = [](const Deal& d, const std::string& property) { return property == "hs_object_id" ? d.id : d.modified; };
    auto matches = [&](const Deal& d) {
      if (!body.contains("filterGroups") || body["filterGroups"].empty()) return true;
      for (const auto& group : body["filterGroups"]) {
        bool all = true;
        for (const auto& f : group["filters"]) {
          const auto v = value_of(d, f["propertyName"]);
          const auto x = std::stoll(f["value"].get<std::string>());
          const std::string op = f["operator"];
          all &= op == "GTE" ? v >= x : op == "LTE" ? v <= x : op == "GT" ? v > x : op == "LT" ? v < x : v == x;
        }
        if (all) return true;
      }
      return false;
    };
    std::vector<const Deal*> hits;
    for (const auto& d : deals) {
      if (matches(d)) hits.push_back(&d);
    }
    const std::string sort = body.contains("sorts") && !body["sorts"].empty() ? body["sorts"][0]["propertyName"].get<std::string>() : "hs_object_id";
    std::stable_sort(hits.begin(), hits.end(), [&](const Deal* a, const Deal* b) {
      return std::pair(value_of(*a, sort), a->id) < std::pair(value_of(*b, sort), b->id);
    });
    json results = json::array();
    for (std::size_t i = after; i < hits.size() && i < after + limit; ++i) {
      const Deal& d = *hits[i];
      const std::string modified = core::format_rfc3339(core::from_unix_ms(d.modified));
      results.push_back({{"id", std::to_string(d.id)},
                         {"properties",
                          {{"amount", d.amount}, {"deal_currency_code", "EUR"}, {"dealstage", d.stage}, {"closedate", nullptr},
                           {"createdate", "2026-09-01T00:00:00Z"}, {"hs_lastmodifieddate", modified},
                           {"hs_object_id", std::to_string(d.id)}, {"partner_id", "hs-contoso"}}},
                         {"createdAt", "2026-09-01T00:00:00Z"}, {"updatedAt", modified}, {"archived", false}});
    }
    json out{{"total", hits.size()}, {"results", results}};
    if (after + limit < hits.size()) out["paging"] = {{"next", {{"after", std::to_string(after + limit)}}}};
    return json_reply(out.dump());
  }

 public:
  FakeApi api{[this](const httplib::Request& req) { return answer(req); }};  // last: stopped first
};

// --- Jira: enhanced search with page tokens, the user's time zone ---------------------------------

// Issues behind /rest/api/3/search/jql. JQL dates are read in the API user's time zone (a local
// time the clock passes twice is read as the later instant: the worst case); page tokens name an
// offset and a generation, and `expire_tokens` makes every token handed out so far invalid.
class FakeJira {
 public:
  struct Issue {
    std::string key;
    std::int64_t updated = 0;
    json organizations;  // customfield_10002, when set
  };
  std::vector<Issue> issues;
  std::string time_zone = "UTC";  // /rest/api/3/myself's timeZone; "" answers 404
  int expire_at = 0;              // the search (1-based) before which every token expires
  int searches = 0, refused_tokens = 0;
  std::vector<std::string> jqls;


  Reply answer(const httplib::Request& req) {
    if (req.path == "/rest/api/3/myself") {
      if (time_zone.empty()) return {404, R"({"errorMessages":["Not found"]})", "application/json", {}, {}};
      return json_reply(json({{"accountId", "5b10a2844c20165700ede21g"}, {"displayName", "Ops Robot"}, {"timeZone", time_zone}}).dump());
    }
    if (req.path != "/rest/api/3/search/jql") return {404, "{}", "application/json", {}, {}};
    if (++searches == expire_at) ++generation_;
    const std::string jql = req.get_param_value("jql");
    jqls.push_back(jql);
    std::size_t offset = 0;
    if (req.has_param("nextPageToken")) {
      const std::string token = req.get_param_value("nextPageToken");
      const auto dot = token.find('.');
      if (std::stoi(token.substr(0, dot)) != generation_) {
        ++refused_tokens;
        return {400, R"({"errorMessages":["The provided next page token is invalid or expired."],"errors":{}})", "application/json", {}, {}};
      }
      offset = std::stoul(token.substr(dot + 1));
    }
    const auto q = jql.find("updated >= \"");
    const std::int64_t from = read_local(jql.substr(q + 12, 16));
    std::vector<const Issue*> hits;
    for (const auto& i : issues) {
      if (i.updated >= from) hits.push_back(&i);
    }
    std::stable_sort(hits.begin(), hits.end(), [](const Issue* a, const Issue* b) { return a->updated < b->updated; });
    const std::size_t max = std::stoul(req.get_param_value("maxResults"));
    json out{{"issues", json::array()}};
    for (std::size_t i = offset; i < hits.size() && i < offset + max; ++i) {
      const Issue& is = *hits[i];
      const std::string at = core::format_rfc3339(core::from_unix_ms(is.updated));
      json fields{{"created", "2026-10-01T00:00:00.000+0000"}, {"updated", at.substr(0, 19) + ".000+0000"},
                  {"status", {{"name", "Open"}, {"statusCategory", {{"key", "indeterminate"}}}}},
                  {"priority", {{"name", "Medium"}}}, {"project", {{"key", is.key.substr(0, is.key.find('-'))}}}};
      if (!is.organizations.is_null()) fields["customfield_10002"] = is.organizations;
      out["issues"].push_back({{"id", is.key}, {"key", is.key}, {"fields", fields}});
    }
    if (offset + max < hits.size()) {
      out["nextPageToken"] = std::to_string(generation_) + "." + std::to_string(offset + max);
      out["isLast"] = false;
    } else {
      out["isLast"] = true;  // and no nextPageToken at all (JRACLOUD-92184)
    }
    return json_reply(out.dump());
  }

 private:
  // "yyyy-MM-dd HH:mm" in the user's zone, the later reading of an ambiguous time.
  std::int64_t read_local(const std::string& literal) const {
    auto num = [&](std::size_t at, std::size_t n) { return std::stoi(literal.substr(at, n)); };
    const date::year_month_day day{date::year(num(0, 4)), date::month(static_cast<unsigned>(num(5, 2))),
                                   date::day(static_cast<unsigned>(num(8, 2)))};
    const date::local_seconds local =
        date::local_days(day) + std::chrono::hours(num(11, 2)) + std::chrono::minutes(num(14, 2));
    const auto* zone = date::locate_zone(time_zone.empty() ? "UTC" : time_zone);
    const auto info = zone->get_info(local);
    const auto offset = info.result == date::local_info::ambiguous ? info.second.offset : info.first.offset;
    return core::to_unix_ms(core::Instant(std::chrono::duration_cast<core::Duration>((local - offset).time_since_epoch())));
  }
  int generation_ = 0;

 public:
  FakeApi api{[this](const httplib::Request& req) { return answer(req); }};  // last: stopped first
};

// --- ServiceNow: encoded queries with ^NQ, offsets ---------------------------------------------

// Incidents behind the Table API: sysparm_query as AND (^) groups joined by ^NQ, conditions on
// sys_updated_on and sys_id (>=, >, =), ORDERBY fields (applied to the whole result), and
// sysparm_offset into the live result. `edit` runs before the answer to request `edit_at`.
class FakeServiceNow {
 public:
  struct Incident {
    std::string sys_id, number, updated, state = "2";
  };
  std::vector<Incident> incidents;
  int edit_at = 0;
  std::function<void(std::vector<Incident>&)> edit;
  int requests = 0;


  Reply answer(const httplib::Request& req) {
    if (++requests == edit_at && edit) edit(incidents);
    std::string query = req.get_param_value("sysparm_query");
    std::vector<std::string> order;
    std::vector<std::vector<std::string>> groups(1);
    std::size_t pos = 0;
    while (pos <= query.size()) {
      auto next = query.find('^', pos);
      std::string part = query.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
      pos = next == std::string::npos ? query.size() + 1 : next + 1;
      if (part.starts_with("NQ")) {
        groups.emplace_back();
        part = part.substr(2);
      }
      if (part.starts_with("ORDERBY")) order.push_back(part.substr(7));
      else if (!part.empty()) groups.back().push_back(part);
    }
    auto field = [](const Incident& i, const std::string& f) { return f == "sys_id" ? i.sys_id : i.updated; };
    auto holds = [&](const Incident& i, const std::string& c) {
      for (const char* op : {">=", ">", "="}) {
        const auto at = c.find(op);
        if (at == std::string::npos) continue;
        const std::string f = c.substr(0, at), v = c.substr(at + std::string_view(op).size()), x = field(i, f);
        return std::string_view(op) == ">=" ? x >= v : std::string_view(op) == ">" ? x > v : x == v;
      }
      return false;
    };
    std::vector<const Incident*> hits;
    for (const auto& i : incidents) {
      for (const auto& g : groups) {
        if (std::all_of(g.begin(), g.end(), [&](const std::string& c) { return holds(i, c); })) {
          hits.push_back(&i);
          break;
        }
      }
    }
    std::stable_sort(hits.begin(), hits.end(), [&](const Incident* a, const Incident* b) {
      for (const auto& f : order) {
        if (field(*a, f) != field(*b, f)) return field(*a, f) < field(*b, f);
      }
      return false;
    });
    const std::size_t offset = std::stoul(req.get_param_value("sysparm_offset"));
    const std::size_t limit = std::stoul(req.get_param_value("sysparm_limit"));
    json result = json::array();
    for (std::size_t i = offset; i < hits.size() && i < offset + limit; ++i) {
      const Incident& in = *hits[i];
      result.push_back({{"sys_id", in.sys_id}, {"number", in.number}, {"priority", "3"}, {"state", in.state},
                        {"opened_at", "2026-10-01 00:00:00"}, {"sys_updated_on", in.updated}, {"company", "company-1"}});
    }
    Reply r = json_reply(json({{"result", result}}).dump());
    if (offset + limit < hits.size()) r.headers = {{"Link", "<" + api.url() + "/api/now/table/incident?sysparm_offset=" + std::to_string(offset + limit) + ">;rel=\"next\""}};
    return r;
  }

 public:
  FakeApi api{[this](const httplib::Request& req) { return answer(req); }};  // last: stopped first
};

// --- Freshdesk: a bare array, pages over updated_since ------------------------------------------

// Tickets behind /api/v2/tickets: updated_since inclusive, ordered by updated_at (ties by id), pages
// of per_page as offsets into the live result. `edit` runs before the answer to request `edit_at`.
class FakeFreshdesk {
 public:
  struct Ticket {
    std::int64_t id = 0;
    std::string updated;
    int status = 2;
  };
  std::vector<Ticket> tickets;
  int edit_at = 0;
  std::function<void(std::vector<Ticket>&)> edit;
  int requests = 0;


  Reply answer(const httplib::Request& req) {
    if (++requests == edit_at && edit) edit(tickets);
    const std::string since = req.get_param_value("updated_since");
    const std::size_t per_page = std::stoul(req.get_param_value("per_page"));
    const std::size_t page = std::stoul(req.get_param_value("page"));
    std::vector<const Ticket*> hits;
    for (const auto& t : tickets) {
      if (t.updated >= since) hits.push_back(&t);
    }
    std::stable_sort(hits.begin(), hits.end(), [](const Ticket* a, const Ticket* b) { return std::pair(a->updated, a->id) < std::pair(b->updated, b->id); });
    json out = json::array();
    for (std::size_t i = (page - 1) * per_page; i < hits.size() && i < page * per_page; ++i) {
      const Ticket& t = *hits[i];
      out.push_back({{"id", t.id}, {"status", t.status}, {"priority", 2}, {"company_id", 4100}, {"created_at", "2026-10-01T00:00:00Z"},
                     {"updated_at", t.updated}});
    }
    Reply r = json_reply(out.dump());
    if (page * per_page < hits.size()) r.headers = {{"Link", "<" + api.url() + "/api/v2/tickets?page=" + std::to_string(page + 1) + ">; rel=\"next\""}};
    return r;
  }

 public:
  FakeApi api{[this](const httplib::Request& req) { return answer(req); }};  // last: stopped first
};

// --- the fixture: one store per test, on each backend -------------------------------------------

class Recovery : public ::testing::TestWithParam<store::Backend> {
 protected:
  void SetUp() override {
    std::string url;
    if (GetParam() == store::Backend::sqlite) {
      url = "sqlite://" + (dir_.path() / "r.db").string();
    } else {
      static std::atomic<int> n{0};
      url = testutils::shared_postgres().create_database("recovery_" + std::to_string(++n));
    }
    auto s = store::Store::open({url, "", 2});
    ASSERT_TRUE(s) << s.error();
    store_ = std::move(*s);
    store_->migrate(clock_.now());
    rules::PartnerDef northwind;
    northwind.id = "northwind";
    northwind.external_ids = {{"desk", {"hs-contoso", "001xx000003DGb2AAG", "OPS", "10", "4100", "company-1"}}};
    rules::PartnerDef contoso;
    contoso.id = "contoso";
    contoso.external_ids = {{"desk", {"20"}}};
    partners_ = {northwind, contoso};
  }

  config::SourceConfig source(const std::string& kind, const std::string& url, const std::string& auth = "basic") {
    auto s = testutils::fake_source(kind, url, auth);
    s.since = "2026-10-01T00:00:00Z";
    return s;
  }

  SyncOptions options() {
    SyncOptions o;
    o.sleep = [this](std::chrono::milliseconds d) {
      slept_.push_back(d);
      clock_.set(clock_.now() + d);
    };
    o.read_secret = [](const config::SecretRef&, std::string_view) -> std::expected<std::string, std::string> { return "s3cret"; };
    o.jitter_seed = 7;
    o.collect_changes = true;  // as the daemon syncs
    o.metrics = &source_metrics_;
    return o;
  }

  SyncResult sync(const config::SourceConfig& s, std::optional<SyncOptions> o = std::nullopt) {
    auto c = make_connector(s);
    EXPECT_TRUE(c);
    return sync_source(s, **c, *store_, partners_, clock_, o ? *o : options());
  }

  // A per-source counter of the syncs' metrics (as /metrics shows them; tests compare
  // differences).
  std::int64_t metric(const std::string& family, const std::string& labels = "source=\"desk\"") const {
    const std::string text = metrics_.render();
    const std::string line = family + "{" + labels + "} ";
    const auto at = text.find(line);
    return at == std::string::npos ? 0 : std::stoll(text.substr(at + line.size()));
  }

  // The stored item with this id, of whatever kind (each test's ids are distinct across kinds).
  std::optional<store::Item> item(const std::string& id) {
    for (const char* kind : {"tickets", "deals", "surveys", "events"}) {
      if (auto i = store_->items().find("desk", kind, id)) return i;
    }
    return std::nullopt;
  }
  json cursor(const std::string& key = "desk") { return json::parse(store_->sources().cursor(key).value_or("{}")); }

  testutils::TempDir dir_;
  core::ManualClock clock_{T("2026-10-20T00:00:00Z")};
  std::unique_ptr<store::Store> store_;
  std::vector<rules::PartnerDef> partners_;
  std::vector<std::chrono::milliseconds> slept_;
  core::MetricsRegistry metrics_;
  SourceMetrics source_metrics_{metrics_};
};

// What the store keeps (pages with their quarantine, cursors a backfill leaves alone, re-reads
// told from changes, pages after a restart) is checked on both backends; the vendors' faults
// that only the connector and the sync loop see, on SQLite.
INSTANTIATE_TEST_SUITE_P(Backends, Recovery, ::testing::Values(store::Backend::sqlite, store::Backend::postgresql),
                         [](const auto& param_info) { return std::string(store::to_string(param_info.param)); });
class VendorFaults : public Recovery {};
INSTANTIATE_TEST_SUITE_P(Sqlite, VendorFaults, ::testing::Values(store::Backend::sqlite),
                         [](const auto& param_info) { return std::string(store::to_string(param_info.param)); });

std::vector<FakeSalesforce::Deal> sf_deals(int n, std::int64_t first, std::int64_t step_ms) {
  std::vector<FakeSalesforce::Deal> out;
  for (int i = 0; i < n; ++i) {
    char id[19];
    std::snprintf(id, sizeof id, "006xx%013d", i);
    out.push_back({id, first + i * step_ms, "1500.5"});
  }
  return out;
}

config::SourceConfig salesforce_source(const config::SourceConfig& base) {
  config::SourceConfig s = base;
  s.user = "3MVG9client";
  s.options = {{"currency", "EUR"}};
  return s;
}

// How many times a request was made again, whole, right after a new token.
int repeated_after_token(const std::vector<std::string>& log) {
  int n = 0;
  for (std::size_t i = 0; i + 2 < log.size(); ++i) {
    if (log[i].starts_with("GET ") && log[i + 1].starts_with("POST /services/oauth2/token") && log[i + 2] == log[i]) ++n;
  }
  return n;
}

// 1. Every session expiry gets a new token and the same request again, however many come in one
// sync; only a token the endpoint refuses, or one refused as soon as it is issued, is an
// authentication failure.
TEST_P(VendorFaults, SalesforceEverySessionExpiryGetsANewTokenAndTheSameRequest) {
  FakeSalesforce sf;
  sf.deals = sf_deals(200, ms("2026-10-05T00:00:00Z"), 60'000);
  sf.batch = 25;
  sf.expire_every = 3;
  const auto s = salesforce_source(source("salesforce", sf.url(), "oauth"));
  auto r = sync(s);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(store_->items().count("desk"), 200);
  EXPECT_EQ(sf.refused_sessions, 2);  // at the 4th and the 7th of the 8 pages
  EXPECT_EQ(sf.tokens_issued, 3);
  EXPECT_EQ(repeated_after_token(sf.api.log()), 2);
  EXPECT_EQ(cursor()["since"], "2026-10-05T03:19:00Z");

  // 75 new deals; sessions now last two requests, and the org refuses the sync's first refresh
  // for good (the refresh token was revoked): the pages before it are kept, the cursor stands
  // after them, and the error says what to check, without the secret.
  for (auto& d : sf_deals(75, ms("2026-10-06T00:00:00Z"), 60'000)) sf.deals.push_back({d.id + "N", d.modstamp, d.amount});
  sf.expire_every = 2;
  sf.token_faults[sf.token_requests + 2] = {400, R"({"error":"invalid_grant","error_description":"expired access/refresh token"})",
                                            "application/json", {}, {}};
  const int before = sf.token_requests;
  auto refused = sync(s);
  EXPECT_FALSE(refused.ok);
  EXPECT_NE(refused.error.find("authentication failed"), std::string::npos) << refused.error;
  EXPECT_NE(refused.error.find("check sources.desk.auth"), std::string::npos) << refused.error;
  EXPECT_NE(refused.error.find("invalid_grant"), std::string::npos) << refused.error;
  EXPECT_EQ(refused.error.find("s3cret"), std::string::npos) << refused.error;
  EXPECT_EQ(sf.token_requests - before, 2) << "an explicit refusal is not retried";
  EXPECT_EQ(refused.pages, 2);
  EXPECT_EQ(store_->items().count("desk"), 200 + 49);  // the boundary deal read again, and 49 new
  const auto stood = cursor();
  EXPECT_TRUE(stood.contains("next")) << stood.dump();

  // The next sync resumes where the cursor stood and completes.
  auto resumed = sync(s);
  ASSERT_TRUE(resumed.ok) << resumed.error;
  EXPECT_EQ(store_->items().count("desk"), 275);

  // A token the API refuses at once (the integration user was deactivated): not a loop of
  // refreshes, one new token and a clear failure.
  sf.refuse_every_token = true;
  const int tokens = sf.tokens_issued;
  auto dead = sync(s);
  EXPECT_FALSE(dead.ok);
  EXPECT_NE(dead.error.find("with a token just issued"), std::string::npos) << dead.error;
  EXPECT_EQ(sf.tokens_issued - tokens, 2);
}

// 2. An expired query locator restarts the query at the newest SystemModstamp stored, counted in
// /metrics; a cursor left holding a locator that has since expired recovers the same way.
TEST_P(Recovery, SalesforceAnExpiredQueryLocatorRestartsFromTheStoredPosition) {
  FakeSalesforce sf;
  // Two deals a second: the restart's boundary second holds two deals, read again harmlessly.
  sf.deals = sf_deals(200, ms("2026-10-05T00:00:00Z"), 500);
  sf.batch = 25;
  sf.drop_locators_at_request = 4;  // the 4th page's locator has expired
  const auto s = salesforce_source(source("salesforce", sf.url(), "oauth"));
  const auto restarts = metric("pactwatch_source_cursor_restarts_total");
  auto r = sync(s);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.restarts, 1);
  EXPECT_EQ(sf.refused_locators, 1);
  EXPECT_EQ(metric("pactwatch_source_cursor_restarts_total") - restarts, 1);
  EXPECT_EQ(store_->items().count("desk"), 200);
  ASSERT_EQ(sf.queries.size(), 2u);
  EXPECT_NE(sf.queries[1].find("SystemModstamp >= 2026-10-05T00:00:37Z"), std::string::npos) << sf.queries[1];
  EXPECT_EQ(cursor(), json({{"since", "2026-10-05T00:01:39Z"}}));

  // Interrupted after two pages (the daemon stopped), the cursor holds a locator; the org drops
  // it meanwhile. The next sync restarts from the position stored and fetches every deal.
  for (auto& d : sf.deals) d.modstamp += 86'400'000;  // every deal changed the next day
  auto o = options();
  o.max_pages = 2;
  auto part = sync(s, o);
  ASSERT_TRUE(part.ok) << part.error;
  ASSERT_TRUE(cursor().contains("next"));
  sf.drop_locators_always = true;
  sf.drop_locators_at_request = 0;
  sf.batch = 100;  // each restarted query brings the rest in two pages ...
  auto healed = sync(s);
  sf.drop_locators_always = false;
  ASSERT_TRUE(healed.ok) << healed.error;
  EXPECT_EQ(healed.restarts, 2);  // ... each of whose locators is dropped again
  for (const auto& d : sf.deals) {
    auto i = item(d.id);
    ASSERT_TRUE(i) << d.id;
    EXPECT_EQ(i->updated_at, core::from_unix_ms(d.modstamp)) << d.id;
  }

  // Dropped twice from the same position (more deals in one second than a batch): no progress
  // is possible, and the sync says so rather than loop; the cursor stays.
  FakeSalesforce same;
  same.deals = sf_deals(250, ms("2026-11-01T00:00:00Z"), 0);
  same.drop_locators_always = true;
  auto s2 = salesforce_source(source("salesforce", same.url(), "oauth"));
  s2.name = "crm";
  const auto before = store_->sources().cursor("crm");
  auto stuck = sync(s2);
  EXPECT_FALSE(stuck.ok);
  EXPECT_NE(stuck.error.find("dropped again before any progress"), std::string::npos) << stuck.error;
  EXPECT_EQ(cursor("crm")["hwm"], "2026-11-01T00:00:00Z");
  EXPECT_NE(cursor("crm"), json::parse(before.value_or("{}")));
}

// 3. The token endpoint's 5xx, 429 and timeouts are waited out like any request's; only an
// explicit refusal is permanent, and an endpoint down past the retries fails as a server error
// (not as bad credentials).
TEST_P(VendorFaults, TokenEndpointFailuresAreRetriedAndOnlyRefusalsArePermanent) {
  FakeSalesforce sf;
  sf.deals = sf_deals(150, ms("2026-10-05T00:00:00Z"), 60'000);
  sf.token_faults[1] = {503, "<html>Service Unavailable</html>", "text/html", {}, {}};
  sf.token_faults[2] = {502, "Bad Gateway", "text/plain", {{"Retry-After", "3"}}, {}};
  sf.token_faults[3] = {200, "{}", "application/json", {}, 1100ms};  // past the 1 s timeout
  sf.token_faults[4] = {429, R"({"error":"rate_limited"})", "application/json", {}, {}};
  auto s = salesforce_source(source("salesforce", sf.url(), "oauth"));
  s.timeout_s = 1;
  s.max_retries = 4;
  auto r = sync(s);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(sf.token_requests, 5);
  EXPECT_EQ(r.retries, 4);
  EXPECT_EQ(r.rate_limited, 1);
  ASSERT_GE(slept_.size(), 2u);
  EXPECT_EQ(slept_[1], 3000ms);  // Retry-After
  EXPECT_EQ(store_->items().count("desk"), 150);

  // invalid_client: wrong credentials, not retried.
  sf.token_faults[6] = {400, R"({"error":"invalid_client","error_description":"invalid client credentials"})", "application/json", {}, {}};
  const auto auth_errors = metric("pactwatch_source_errors_total", "source=\"desk\",kind=\"auth\"");
  auto refused = sync(s);
  EXPECT_FALSE(refused.ok);
  EXPECT_EQ(sf.token_requests, 6);
  EXPECT_NE(refused.error.find("authentication failed"), std::string::npos) << refused.error;
  EXPECT_NE(refused.error.find("invalid_client"), std::string::npos) << refused.error;
  EXPECT_EQ(refused.error.find("s3cret"), std::string::npos);
  EXPECT_EQ(metric("pactwatch_source_errors_total", "source=\"desk\",kind=\"auth\"") - auth_errors, 1);

  // Down for longer than the retries: a server failure, the cursor where it was.
  for (int i = 7; i <= 11; ++i) sf.token_faults[i] = {503, "down", "text/plain", {}, {}};
  const auto cursor_before = store_->sources().cursor("desk");
  const auto server_errors = metric("pactwatch_source_errors_total", "source=\"desk\",kind=\"server\"");
  auto down = sync(s);
  EXPECT_FALSE(down.ok);
  EXPECT_TRUE(down.error.starts_with("token request: HTTP 503 from " + sf.url() + "/services/oauth2/token")) << down.error;
  EXPECT_NE(down.error.find("after 5 attempt(s); the cursor stays"), std::string::npos) << down.error;
  EXPECT_EQ(down.error.find("authentication failed"), std::string::npos) << down.error;
  EXPECT_EQ(metric("pactwatch_source_errors_total", "source=\"desk\",kind=\"server\"") - server_errors, 5);
  EXPECT_EQ(store_->sources().cursor("desk"), cursor_before);
}

// --- backfills -----------------------------------------------------------------------------------

std::vector<FakeFreshdesk::Ticket> hourly_tickets(int n, const char* first) {
  std::vector<FakeFreshdesk::Ticket> out;
  for (int i = 0; i < n; ++i) out.push_back({1000 + i, core::format_rfc3339(T(first) + std::chrono::hours(i)), 2});
  return out;
}

// 4. `sources sync --since T` re-reads from T and stores what it reads, but never moves the
// cursor: after a sync of one page and a backfill from a later instant, the next sync still
// fetches everything in between.
TEST_P(Recovery, ABackfillNeverMovesTheCursorPastDataNotStored) {
  FakeFreshdesk fd;
  fd.tickets = hourly_tickets(500, "2026-11-01T00:00:00Z");  // to 2026-11-21T19:00
  auto s = source("freshdesk", fd.api.url(), "api_key");
  s.page_size = 100;
  auto once = options();
  once.once = true;
  auto first = sync(s, once);
  ASSERT_TRUE(first.ok) << first.error;
  EXPECT_EQ(store_->items().count("desk"), 100);
  const auto stood = store_->sources().cursor("desk");
  ASSERT_TRUE(stood);
  EXPECT_EQ(json::parse(*stood)["since"], "2026-11-05T03:00:00Z");

  auto backfill = options();
  backfill.since = T("2026-11-15T00:00:00Z");
  auto b = sync(s, backfill);
  ASSERT_TRUE(b.ok) << b.error;
  EXPECT_EQ(store_->items().count("desk"), 100 + 164);  // 2026-11-15T00:00 to the end
  EXPECT_EQ(store_->sources().cursor("desk"), stood) << "a backfill leaves the cursor where it was";
  EXPECT_EQ(b.cursor, *stood);
  EXPECT_NE(fd.api.log()[1].find("updated_since=2026-11-15T00:00:00Z"), std::string::npos) << fd.api.log()[1];

  // The next sync goes on from the cursor: nothing between the two is lost.
  auto next = sync(s);
  ASSERT_TRUE(next.ok) << next.error;
  EXPECT_EQ(store_->items().count("desk"), 500);
  EXPECT_EQ(cursor()["since"], "2026-11-21T19:00:00Z");
}

// --- HubSpot ---------------------------------------------------------------------------------

std::vector<FakeHubSpot::Deal> hs_deals(int n, std::int64_t first, std::int64_t step_ms) {
  std::vector<FakeHubSpot::Deal> out;
  for (int i = 0; i < n; ++i) out.push_back({5000 + i, first + i * step_ms, std::to_string(1000 + i), "appointmentscheduled"});
  return out;
}

// 5. Deals edited while a sync pages through a search are never skipped: a window is read by id,
// not by `after` offsets (edited deals leave it and come with the next window), and no search
// pages past the 10,000 results one query may go through.
TEST_P(VendorFaults, HubSpotLosesNoDealEditedMidSync) {
  FakeHubSpot hs;
  hs.deals = hs_deals(600, ms("2026-10-02T00:00:00Z"), 60'000);  // one a minute
  hs.ceiling = 200;  // one search may page through 200 results here (10,000 at HubSpot)
  // While the sync pages, ten deals change: five already read, five not yet read.
  const std::int64_t edited_at = ms("2026-10-20T00:00:30Z");
  hs.edit_at = 4;
  hs.edit = [&](std::vector<FakeHubSpot::Deal>& deals) {
    for (int k : {10, 20, 30, 40, 50, 400, 420, 440, 460, 480}) {
      deals[static_cast<std::size_t>(k)].modified = edited_at + k;
      deals[static_cast<std::size_t>(k)].stage = "closedwon";
    }
  };
  auto s = source("hubspot", hs.api.url(), "bearer");
  s.page_size = 40;
  auto r = sync(s);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(store_->items().count("desk"), 600 - 5) << "the five edited before their page was read left this window";
  for (const auto& b : hs.api.bodies()) EXPECT_FALSE(json::parse(b).contains("after")) << b;
  EXPECT_EQ(cursor(), json({{"since", ms("2026-10-20T00:00:00Z") - 300'000}}));  // five minutes before the window's end

  // The next poll's window brings the edited deals, in their new state.
  clock_.advance(std::chrono::minutes(5));
  auto next = sync(s);
  ASSERT_TRUE(next.ok) << next.error;
  EXPECT_EQ(store_->items().count("desk"), 600);
  for (int k : {10, 20, 30, 40, 50, 400, 420, 440, 460, 480}) {
    auto d = item(std::to_string(5000 + k));
    ASSERT_TRUE(d) << k;
    EXPECT_EQ(d->status, "closedwon") << k;
    EXPECT_EQ(d->updated_at, core::from_unix_ms(edited_at + k)) << k;
  }
}

// 9. A deal whose amount has more decimals than its currency is set aside with the reason, and
// the deals after it are stored; trailing zeros are read exactly. Re-read unchanged, it is not
// counted again; corrected at HubSpot, it becomes an item and leaves the quarantine.
TEST_P(Recovery, AnUnmappableRecordIsQuarantinedAndNeverBlocksTheRecordsAfterIt) {
  FakeHubSpot hs;
  hs.deals = hs_deals(300, ms("2026-10-19T22:20:00Z"), 20'000);  // to 2026-10-19T23:59:40
  hs.deals[150].amount = "38033.969";  // EUR has two decimals
  hs.deals[151].amount = "38033.970";  // exactly 38033.97
  hs.deals[299].amount = "12.5x";      // not a number at all (the window's last deal: read again next poll)
  auto s = source("hubspot", hs.api.url(), "bearer");
  s.page_size = 100;
  const auto quarantined = metric("pactwatch_source_quarantined_total");
  const auto records = metric("pactwatch_source_records_total");
  auto r = sync(s);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(store_->items().count("desk"), 298);
  EXPECT_EQ(r.quarantined, 2);
  EXPECT_EQ(r.quarantined_ids, (std::vector<std::string>{"5150", "5299"}));
  EXPECT_EQ(item("5151")->amount_minor, 3803397);
  EXPECT_EQ(metric("pactwatch_source_quarantined_total") - quarantined, 2);
  EXPECT_EQ(metric("pactwatch_source_records_total") - records, 300);
  EXPECT_TRUE(cursor().contains("since")) << "the cursor moved past the records set aside";
  const auto held = store_->sources().quarantined("desk");
  ASSERT_EQ(held.size(), 2u);
  const auto& bad = held[0].external_id == "5150" ? held[0] : held[1];
  EXPECT_EQ(bad.kind, "deals");
  EXPECT_NE(bad.reason.find("'38033.969' has more decimals than EUR allows (2)"), std::string::npos) << bad.reason;
  EXPECT_EQ(json::parse(bad.record)["amount"], "38033.969");

  // The next poll reads the window's last minutes again: deal 5299 is still bad, counted as a
  // re-read, not as news.
  clock_.advance(std::chrono::minutes(1));
  const auto rereads = metric("pactwatch_source_rereads_total");
  auto again = sync(s);
  ASSERT_TRUE(again.ok) << again.error;
  EXPECT_EQ(again.quarantined, 0);
  EXPECT_GT(again.unchanged, 0);
  EXPECT_EQ(metric("pactwatch_source_quarantined_total") - quarantined, 2);
  EXPECT_EQ(metric("pactwatch_source_rereads_total") - rereads, again.unchanged);
  EXPECT_EQ(store_->sources().quarantined("desk").size(), 2u);

  // Corrected at HubSpot (a new modification): stored, and out of the quarantine.
  hs.deals[150].amount = "38033.97";
  hs.deals[150].modified = core::to_unix_ms(clock_.now()) + 10'000;
  clock_.advance(std::chrono::minutes(1));
  auto fixed = sync(s);
  ASSERT_TRUE(fixed.ok) << fixed.error;
  EXPECT_EQ(fixed.released, 1);
  EXPECT_EQ(item("5150")->amount_minor, 3803397);
  ASSERT_EQ(store_->sources().quarantined("desk").size(), 1u);
  EXPECT_EQ(store_->sources().quarantined("desk")[0].external_id, "5299");
}

// 10. Polls that find nothing new re-read the boundary records: counted as re-reads, never as
// records.
TEST_P(Recovery, ReReadingTheBoundaryRecordIsNotCountedAsARecord) {
  FakeFreshdesk fd;
  fd.tickets = hourly_tickets(30, "2026-10-05T00:00:00Z");
  auto s = source("freshdesk", fd.api.url(), "api_key");
  auto first = sync(s);
  ASSERT_TRUE(first.ok) << first.error;
  EXPECT_EQ(first.written, 30);
  const auto records = metric("pactwatch_source_records_total");
  const auto rereads = metric("pactwatch_source_rereads_total");
  const auto written = metric("pactwatch_source_items_written_total");
  const auto unattributed = metric("pactwatch_source_unattributed_total");
  for (int poll = 0; poll < 3; ++poll) {
    auto r = sync(s);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.records, 1);  // the newest ticket, again
    EXPECT_EQ(r.unchanged, 1);
    EXPECT_EQ(r.written, 0);
  }
  EXPECT_EQ(metric("pactwatch_source_records_total"), records);
  EXPECT_EQ(metric("pactwatch_source_items_written_total"), written);
  EXPECT_EQ(metric("pactwatch_source_unattributed_total"), unattributed);
  EXPECT_EQ(metric("pactwatch_source_rereads_total") - rereads, 3);
  // A change is news again.
  fd.tickets.back().status = 4;
  fd.tickets.back().updated = "2026-10-06T06:00:00Z";
  auto changed = sync(s);
  EXPECT_EQ(changed.written, 1);
  EXPECT_EQ(metric("pactwatch_source_records_total") - records, 1);
}

// --- Jira ------------------------------------------------------------------------------------

std::vector<FakeJira::Issue> jira_issues(int n, std::int64_t first, std::int64_t step_ms) {
  std::vector<FakeJira::Issue> out;
  for (int i = 0; i < n; ++i) out.push_back({"OPS-" + std::to_string(i + 1), first + i * step_ms, json()});
  return out;
}

// 6. An expired nextPageToken restarts the search at the newest `updated` stored; a cursor left
// holding a token that has since expired recovers the same way.
TEST_P(VendorFaults, JiraAnExpiredPageTokenRestartsFromTheStoredPosition) {
  FakeJira jira;
  jira.issues = jira_issues(300, ms("2026-10-05T00:00:00Z"), 60'000);
  jira.expire_at = 3;
  auto s = source("jira", jira.api.url());
  s.page_size = 25;
  auto r = sync(s);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.restarts, 1);
  EXPECT_EQ(jira.refused_tokens, 1);
  EXPECT_EQ(store_->items().count("desk"), 300);
  // Restarted a minute before the newest issue stored (the 50th, 00:49).
  EXPECT_NE(jira.jqls[3].find("updated >= \"2026-10-05 00:48\""), std::string::npos) << jira.jqls[3];

  // Stopped after three pages with a token in the cursor; the token expires meanwhile.
  for (auto& i : jira.issues) i.updated += 2 * 86'400'000;  // every issue changed, after the cursor
  auto o = options();
  o.max_pages = 3;
  ASSERT_TRUE(sync(s, o).ok);
  ASSERT_TRUE(cursor().contains("token"));
  jira.expire_at = jira.searches + 1;
  auto healed = sync(s);
  ASSERT_TRUE(healed.ok) << healed.error;
  EXPECT_EQ(healed.restarts, 1);
  for (const auto& i : jira.issues) EXPECT_EQ(item(i.key)->updated_at, core::from_unix_ms(i.updated)) << i.key;
}

// 7. JSM's Organizations field (a list of {id, name}) attributes by its ids: the first, in Jira's
// order, that a partner claims; every id is kept on the item.
TEST_P(VendorFaults, JiraOrganizationsAttributeByTheirIds) {
  FakeJira jira;
  jira.issues = jira_issues(4, ms("2026-10-05T00:00:00Z"), 60'000);
  jira.issues[0].organizations = json::parse(R"([{"id": "10", "name": "Northwind", "_links": {}}])");
  jira.issues[1].organizations = json::parse(R"([{"id": "99", "name": "Someone"}, {"id": 20, "name": "Contoso"}, {"id": "10"}])");
  jira.issues[2].organizations = json::array();
  jira.issues[3].organizations = json::parse(R"([{"id": "77", "name": "Unknown"}])");
  auto s = source("jira", jira.api.url());
  s.options = {{"account_field", "customfield_10002"}};
  auto r = sync(s);
  ASSERT_TRUE(r.ok) << r.error;
  for (const char* key : {"OPS-1", "OPS-2", "OPS-3", "OPS-4"}) ASSERT_TRUE(item(key)) << key;
  EXPECT_EQ(item("OPS-1")->partner_id, "northwind");
  EXPECT_EQ(item("OPS-2")->partner_id, "contoso");  // 99 is no partner's; 20 comes before 10
  EXPECT_EQ(json::parse(item("OPS-2")->payload)["custom"]["customfield_10002"], "99,20,10");
  EXPECT_FALSE(item("OPS-3")->partner_id) << "no organisation: not attributed by project either";
  EXPECT_FALSE(item("OPS-4")->partner_id);
  EXPECT_EQ(r.unattributed, 2);
}

// 8. Without options.timezone, JQL dates are written in the zone /rest/api/3/myself reports
// (America/Los_Angeles here), and a window never starts after the newest update stored, even in
// the hour a clock goes back; with the zone unknown, windows start 14 hours early.
TEST_P(VendorFaults, JiraReadsTheUsersTimeZoneAndOverlapsWindowsSafely) {
  FakeJira jira;
  jira.time_zone = "America/Los_Angeles";
  jira.issues = jira_issues(3, ms("2026-10-10T08:00:00Z"), 3'600'000);  // to 10:00Z
  auto s = source("jira", jira.api.url());
  auto first = sync(s);
  ASSERT_TRUE(first.ok) << first.error;
  EXPECT_EQ(jira.api.log()[0], "GET /rest/api/3/myself");
  EXPECT_NE(jira.jqls[0].find("updated >= \"2026-09-30 16:59\""), std::string::npos) << jira.jqls[0];  // 10-01T00:00Z - 1 min, in PDT
  // Twenty minutes after the newest issue stored, another changes: the next poll finds it.
  jira.issues.push_back({"OPS-9", ms("2026-10-10T10:20:00Z"), json()});
  auto next = sync(s);
  ASSERT_TRUE(next.ok) << next.error;
  EXPECT_NE(jira.jqls.back().find("updated >= \"2026-10-10 02:59\""), std::string::npos) << jira.jqls.back();
  EXPECT_TRUE(item("OPS-9"));

  // The night the clocks go back (2026-11-01, 01:00-02:00 happens twice in Los Angeles): the
  // newest issue stored is at 01:40 PDT; a literal "01:39" may be read as PST, an hour later,
  // so the window starts before the ambiguous hour.
  jira.issues.push_back({"OPS-10", ms("2026-11-01T08:40:00Z"), json()});
  ASSERT_TRUE(sync(s).ok);
  jira.issues.push_back({"OPS-11", ms("2026-11-01T08:50:00Z"), json()});
  auto dst = sync(s);
  ASSERT_TRUE(dst.ok) << dst.error;
  EXPECT_NE(jira.jqls.back().find("updated >= \"2026-11-01 00:39\""), std::string::npos) << jira.jqls.back();
  EXPECT_TRUE(item("OPS-11"));

  // The zone cannot be read (no permission): windows start 14 hours early, nothing is missed.
  jira.time_zone = "";
  jira.issues.push_back({"OPS-12", ms("2026-11-01T09:00:00Z"), json()});
  auto blind = sync(s);
  ASSERT_TRUE(blind.ok) << blind.error;
  EXPECT_NE(jira.jqls.back().find("updated >= \"2026-10-31 18:49\""), std::string::npos) << jira.jqls.back();  // 08:50Z - 14 h - 1 min, UTC
  EXPECT_TRUE(item("OPS-12"));
}

// --- ServiceNow and Freshdesk: records updated mid-sync -----------------------------------------

std::string sn_time(std::int64_t at_ms) {
  const auto s = core::format_rfc3339(core::from_unix_ms(at_ms));
  return s.substr(0, 10) + " " + s.substr(11, 8);
}

// Records updated (and inserted) while a sync pages move to the end of the order: with offsets
// the records after them would shift back and be skipped. Pages that follow the last record
// stored skip none.
TEST_P(VendorFaults, ServiceNowSkipsNoRecordWhenOthersAreUpdatedMidSync) {
  FakeServiceNow sn;
  for (int i = 0; i < 250; ++i) {
    char id[33];
    std::snprintf(id, sizeof id, "%032x", (i * 7919) % 1000 + 1);  // sys_ids in no particular order
    // Five records an hour, several in one second: the same second is paged by sys_id.
    sn.incidents.push_back({id, "INC" + std::to_string(100000 + i), sn_time(ms("2026-10-05T00:00:00Z") + (i / 5) * 3'600'000)});
  }
  sn.edit_at = 3;
  sn.edit = [](std::vector<FakeServiceNow::Incident>& incidents) {
    for (int k : {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
      incidents[static_cast<std::size_t>(k)].updated = "2026-10-19 12:00:00";
      incidents[static_cast<std::size_t>(k)].state = "6";
    }
    incidents.push_back({std::string(31, '0') + "a", "INC200000", "2026-10-19 12:00:01"});
  };
  auto s = source("servicenow", sn.api.url());
  s.page_size = 12;  // pages end inside seconds
  auto r = sync(s);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(store_->items().count("desk"), 251);
  for (int k = 0; k < 10; ++k) EXPECT_EQ(item("INC" + std::to_string(100000 + k))->status, "solved") << k;
  EXPECT_EQ(cursor(), json({{"since", "2026-10-19 12:00:01"}}));
}

TEST_P(VendorFaults, FreshdeskSkipsNoTicketWhenOthersAreUpdatedMidSync) {
  FakeFreshdesk fd;
  fd.tickets = hourly_tickets(300, "2026-10-05T00:00:00Z");
  fd.edit_at = 2;
  fd.edit = [](std::vector<FakeFreshdesk::Ticket>& tickets) {
    for (int k = 0; k < 10; ++k) {
      tickets[static_cast<std::size_t>(k)].updated = "2026-10-19T12:00:00Z";
      tickets[static_cast<std::size_t>(k)].status = 4;
    }
  };
  auto s = source("freshdesk", fd.api.url(), "api_key");
  s.page_size = 100;
  auto r = sync(s);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(store_->items().count("desk"), 300);
  for (int k = 0; k < 10; ++k) EXPECT_EQ(item(std::to_string(1000 + k))->status, "solved") << k;
}

}  // namespace
}  // namespace pactwatch::sources
