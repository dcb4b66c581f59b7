// The API and the portal over real HTTP on 127.0.0.1, against a real store (SQLite, and the main
// paths on PostgreSQL) holding the shipped example rules and demo items.
//
// The authorization matrix covers every route Api::routes() reports: a route without a row fails
// the suite. Every JSON response is recorded and checked against docs/openapi.yaml by
// tests/integration/openapi_check.py (run by the last test), which also parses the CSV report back.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <ctime>
#include <fstream>
#include <iostream>
#include <set>
#include <thread>

#include "pactwatch/api/http_server.h"
#include "pactwatch/api/server.h"
#include "pactwatch/api/tokens.h"
#include "pactwatch/notify/message.h"
#include "pactwatch/app/evaluation_runner.h"
#include "pactwatch/core/digest.h"
#include "pactwatch/core/clock.h"
#include "pactwatch/ledger/agreement_record.h"
#include "pactwatch/ledger/agreements.h"
#include "pactwatch/ledger/disputes.h"
#include "pactwatch/ledger/statements.h"
#include "pactwatch/ledger/verify.h"
#include "pactwatch/rules/approvals.h"
#include "pactwatch/sources/import.h"
#include "pg_server.h"
#include "process.h"
#include "demo_data.h"
#include "temp_dir.h"

namespace pactwatch::api {
namespace {

using nlohmann::json;
using store::Backend;
core::Instant T(const char* s) { return *core::parse_rfc3339(s); }
const std::string kSource = PACTWATCH_SOURCE_DIR;

// Every response the suite saw, for the OpenAPI check.
json& recorded() {
  static json r = json::array();
  return r;
}

struct Tokens {
  std::string admin, approver, finance, viewer, northwind, contoso;
};

class ApiTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    auto r = rules::load_rule_set(kSource + "/rules/examples");
    ASSERT_TRUE(r) << r.error()[0].to_string();
    rules_ = std::make_shared<const rules::RuleSet>(std::move(*r));
    std::string url;
    if (GetParam() == Backend::sqlite) {
      url = "sqlite://" + (dir_.path() / "api.db").string();
    } else {
      static std::atomic<int> n{0};
      url = testutils::shared_postgres().create_database("api_" + std::to_string(++n));
    }
    auto s = store::Store::open({url, "", 4});
    ASSERT_TRUE(s) << s.error();
    db_ = std::move(*s);
    db_->migrate(clock_.now());
    testutils::load_demo(*db_, *rules_, kSource, clock_.now());
    tokens_.admin = make_token("admin", std::nullopt);
    tokens_.approver = make_token("approver", std::nullopt);
    tokens_.finance = make_token("finance", std::nullopt);
    tokens_.viewer = make_token("viewer", std::nullopt);
    tokens_.northwind = make_token("partner", "northwind");
    tokens_.contoso = make_token("partner", "contoso-eu");
  }

  void start(ApiOptions options = {}, HttpOptions http = {}) {
    // An answer is charged by the processor time it took; a sanitizer build takes many times as
    // long for the same work, so the default cost unit grows with it (tests that set their own keep it).
    if (options.cost_unit == ApiOptions{}.cost_unit) options.cost_unit *= 4 * testutils::kSanitizerSlowdown;
    if (options.signing_key_file.empty()) options.signing_key_file = dir_.path() / "agreement-signing.key";
    api_ = std::make_unique<Api>(
        *db_,
        [this] {
          std::lock_guard lock(rules_mutex_);
          return rules_;
        },
        clock_, metrics_, options);
    http.max_body_bytes = options.max_body_bytes;
    server_ = std::make_unique<HttpServer>(http, metrics_);
    api_->mount(*server_);
    auto port = server_->listen("127.0.0.1", 0);
    ASSERT_TRUE(port) << port.error();
    port_ = *port;
  }

  void TearDown() override {
    if (server_) server_->stop();
  }

  std::string make_token(const std::string& role, const std::optional<std::string>& partner) {
    auto t = issue_token(role, partner, role, std::nullopt, clock_.now());
    db_->tokens().create(t.record, 2, clock_.now());
    return t.text;
  }

  httplib::Client client() {
    httplib::Client c("127.0.0.1", port_);
    // A guard, not a promise: a sanitizer build computes a long history several times slower.
    c.set_read_timeout(30 * testutils::kSanitizerSlowdown, 0);
    return c;
  }

  // A request with a token; JSON answers are recorded under the route template for the OpenAPI check.
  httplib::Result call(const std::string& method, const std::string& path, const std::string& token,
                       const std::string& pattern = "", const std::string& body = "", const std::string& ctype = "application/json",
                       httplib::Headers headers = {}) {
    auto c = client();
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    httplib::Result r = method == "GET" ? c.Get(path, headers)
                        : method == "POST" ? c.Post(path, headers, body, ctype)
                        : method == "DELETE" ? c.Delete(path, headers)
                                             : c.Put(path, headers, body, ctype);
    if (r && !pattern.empty()) {
      recorded().push_back({{"method", method}, {"pattern", pattern}, {"status", r->status},
                            {"content_type", r->get_header_value("Content-Type")}, {"body", r->body}});
    }
    return r;
  }

  json get_json(const std::string& path, const std::string& token, int expect = 200, const std::string& pattern = "") {
    auto r = call("GET", path, token, pattern);
    EXPECT_TRUE(r);
    if (!r) return json();
    EXPECT_EQ(r->status, expect) << path << ": " << r->body;
    return json::parse(r->body, nullptr, false);
  }

  // What the daemon's refresh does after an act: the rules again, with the recorded approvals.
  void serve_rules(rules::RuleSet set) {
    std::lock_guard lock(rules_mutex_);
    rules_ = std::make_shared<const rules::RuleSet>(std::move(set));
  }

  // The examples with a 2027 draft of northwind-support (v4: one target tightened, nothing
  // approved), the earlier versions' file approvals recorded as acts, those rules served, and
  // October closed under v3 (what the proposal is priced against).
  void with_v4_draft() {
    rules_dir_ = dir_.path() / "rules";
    std::filesystem::copy(kSource + "/rules/examples", rules_dir_, std::filesystem::copy_options::recursive);
    {
      std::ifstream in(rules_dir_ / "contracts/northwind-support-v3.yaml");
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      auto replace = [&](const std::string& a, const std::string& b) {
        const auto at = text.find(a);
        ASSERT_NE(at, std::string::npos) << a;
        text.replace(at, a.size(), b);
      };
      replace("version: 3", "version: 4");
      replace("effective: {from: 2026-01-01, until: 2026-12-31}", "effective: {from: 2027-01-01, until: 2027-12-31}");
      replace("objective: {target: \">= 95%\", warning: \">= 97%\"}", "objective: {target: \">= 97%\", warning: \">= 98%\"}");
      const auto a = text.find("approvals:"), b = text.find("currency:");
      text.erase(a, b - a);
      std::ofstream(rules_dir_ / "contracts/northwind-support-v4.yaml") << text;
    }
    const ledger::Actor ops{"cli:ops", "ops@brand.example", "admin"};
    auto set = rules::load_rule_set(rules_dir_, rules::Enforcement::recorded_later);
    ASSERT_TRUE(set) << set.error()[0].to_string();
    for (const auto& v : set->contracts) {
      if (v.contract == "northwind-support" && v.version < 4) {
        auto adopted = ledger::adopt_file_approvals(*db_, *set, v, "test", ops, clock_.now());
        ASSERT_TRUE(adopted) << adopted.error();
      }
    }
    ASSERT_NO_FATAL_FAILURE(refresh_rules());
    ledger::Statements statements(*rules_, *db_);
    auto closed = statements.close("2026-10", std::string("northwind"), T("2026-11-05T00:00:00Z"), clock_.now(), "test");
    ASSERT_TRUE(closed) << closed.error();
  }

  // The examples with dispute terms in northwind-support v3 (a 30-day window, three categories,
  // brand_caused accepted in advance), agreed by both parties through recorded acts, and served.
  void with_disputes() {
    rules_dir_ = dir_.path() / "rules";
    std::filesystem::copy(kSource + "/rules/examples", rules_dir_, std::filesystem::copy_options::recursive);
    const auto file = rules_dir_ / "contracts/northwind-support-v3.yaml";
    std::string text = *core::read_file(file.string());
    const auto a = text.find("approvals:"), b = text.find("currency:");
    ASSERT_NE(a, std::string::npos);
    text.erase(a, b - a);
    text += "disputes: {window: 30d, categories: [misattributed, customer_caused, brand_caused], pre_agreed: [brand_caused]}\n";
    std::ofstream(file, std::ios::trunc) << text;
    const ledger::Actor ops{"cli:ops", "ops@brand.example", "admin"}, nw{"tok_nw", "coo@northwind.example", "partner"};
    for (const auto& [party, what, who] : std::vector<std::tuple<core::Party, core::ContractAct, ledger::Actor>>{
             {core::Party::brand, core::ContractAct::propose, ops},
             {core::Party::brand, core::ContractAct::approve, ops},
             {core::Party::partner, core::ContractAct::approve, nw}}) {
      auto set = ledger::rules_in_force(rules_dir_, *db_);
      ASSERT_TRUE(set) << set.error()[0].to_string();
      core::ContractAction act;
      act.contract = "northwind-support";
      act.version = 3;
      act.party = party;
      act.act = what;
      act.sha256 = (*rules::find_version(*set, "northwind-support", 3))->sha256;
      auto recorded_act = ledger::record_act(*db_, *set, act, who, clock_.now());
      ASSERT_TRUE(recorded_act) << recorded_act.error();
    }
    ASSERT_NO_FATAL_FAILURE(refresh_rules());
    ASSERT_TRUE((*rules::find_version(*rules_, "northwind-support", 3))->enforced);
  }

  // A dispute request body of northwind's late ticket in October's p1_first_reply.
  static std::string dispute_body(const std::string& category = "customer_caused", const std::string& period = "2026-10",
                                  const std::string& item = R"({"source": "import", "kind": "tickets", "id": "northwind-N2"})") {
    return R"({"contract": "northwind-support", "version": 3, "period": ")" + period +
           R"(", "rule": "p1_first_reply", "item": )" + item + R"(, "category": ")" + category +
           R"(", "reason": "the customer asked us to wait"})";
  }

  // A correction request body: northwind's October outage, leaving p1_first_reply and reopen_loops.
  static std::string correction_body(const std::string& category = "force_majeure",
                                     const std::string& rules = R"(["p1_first_reply", "reopen_loops"])",
                                     const std::string& from = "2026-10-14T11:00:00Z") {
    return R"({"contract": "northwind-support", "version": 3, "rules": )" + rules + R"(, "from": ")" + from +
           R"(", "until": "2026-10-14T15:30:00Z", "category": ")" + category + R"(", "reason": "brand platform outage"})";
  }

  // What the daemon's refresh does after an act: the rules of with_v4_draft() again, with every
  // approval recorded.
  void refresh_rules() {
    auto set = ledger::rules_in_force(rules_dir_, *db_);
    ASSERT_TRUE(set) << set.error()[0].to_string();
    serve_rules(std::move(*set));
  }

  testutils::TempDir dir_;
  std::mutex rules_mutex_;
  core::ManualClock clock_{T("2026-11-20T12:00:00Z")};
  std::shared_ptr<const rules::RuleSet> rules_;
  std::filesystem::path rules_dir_;  // with_v4_draft()
  std::unique_ptr<store::Store> db_;
  Tokens tokens_;
  core::MetricsRegistry metrics_;  // before the API and the server: it outlives them
  std::unique_ptr<Api> api_;
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
};

// Who asks, and what each route answers them. own/other: a partner token of the partner in the
// path (northwind) or of another partner (contoso-eu).
struct Expect {
  int admin, approver, finance, viewer, own, other, none;
};

const std::map<std::string, Expect>& matrix() {
  static const std::map<std::string, Expect> m{
      {"GET /v1/partners", {200, 200, 200, 200, 200, 200, 401}},
      {"GET /v1/partners/{partner}", {200, 200, 200, 200, 200, 404, 401}},
      {"GET /v1/partners/{partner}/kpis", {200, 200, 200, 200, 200, 404, 401}},
      {"GET /v1/partners/{partner}/kpis/{kpi}/evidence", {200, 200, 200, 200, 200, 404, 401}},
      {"GET /v1/partners/{partner}/history", {200, 200, 200, 200, 200, 404, 401}},
      {"GET /v1/partners/{partner}/statements", {200, 403, 200, 403, 200, 404, 401}},
      {"POST /v1/partners/{partner}/what-if", {200, 403, 200, 403, 200, 404, 401}},
      {"GET /v1/compensation", {200, 403, 200, 403, 403, 403, 401}},
      {"POST /v1/periods/{period}/close", {200, 403, 200, 403, 403, 403, 401}},
      // Closed by the close above (routes run in table order).
      {"GET /v1/partners/{partner}/statements/{contract}/{version}/{period}/bundle", {200, 403, 200, 403, 200, 404, 401}},
      {"GET /v1/ledger/verify", {200, 403, 200, 403, 403, 403, 401}},
      {"GET /v1/contracts", {200, 200, 200, 200, 200, 200, 401}},
      {"GET /v1/contracts/{contract}/versions", {200, 200, 200, 200, 200, 404, 401}},
      // A version in force, for the file's approvals enforce in this fixture; nothing was proposed,
      // so the comment is refused by the lifecycle (409) once the token may act at all.
      {"GET /v1/contracts/{contract}/versions/{version}/proposal", {200, 200, 200, 200, 200, 404, 401}},
      {"GET /v1/contracts/{contract}/versions/{version}/comparison", {200, 200, 200, 200, 200, 404, 401}},
      {"GET /v1/contracts/{contract}/versions/{version}/what-if", {200, 200, 200, 403, 200, 404, 401}},
      {"POST /v1/contracts/{contract}/versions/{version}/acts", {409, 409, 403, 403, 409, 404, 401}},
      // Not agreed in the store (the file's approvals are not recorded acts): no record to sign.
      {"GET /v1/contracts/{contract}/versions/{version}/agreement", {409, 409, 409, 403, 409, 404, 401}},
      // Disputes: one of northwind's is in the store; the examples allow none, so opening one is
      // refused with the reason (422) once the token may open one at all (only partners do).
      {"GET /v1/partners/{partner}/disputes", {200, 200, 200, 200, 200, 404, 401}},
      {"POST /v1/partners/{partner}/disputes", {403, 403, 403, 403, 422, 404, 401}},
      {"GET /v1/disputes/{id}", {200, 200, 200, 200, 200, 404, 401}},
      // A comment: approver and finance for the brand, the partner for itself; admin and viewer read only.
      {"POST /v1/disputes/{id}/acts", {403, 201, 201, 403, 201, 404, 401}},
      // Corrections: one of northwind's is in the store; approver and finance declare (the examples
      // enforce v3, so each declaration is stored: 201), the partner reads its own; a comment as above.
      {"GET /v1/partners/{partner}/corrections", {200, 200, 200, 200, 200, 404, 401}},
      {"POST /v1/partners/{partner}/corrections", {403, 201, 201, 403, 403, 403, 401}},
      {"GET /v1/corrections/{id}", {200, 200, 200, 200, 200, 404, 401}},
      {"POST /v1/corrections/{id}/acts", {403, 201, 201, 403, 201, 404, 401}},
      {"GET /v1/agreement-key", {200, 200, 200, 200, 200, 200, 401}},
      {"GET /v1/notifications", {200, 403, 403, 403, 403, 403, 401}},
      {"POST /v1/notifications/{event}/retry", {200, 403, 403, 403, 403, 403, 401}},
      {"GET /v1/audit", {200, 403, 403, 403, 403, 403, 401}},
      // The portal: pages answer 200, a redirect to sign in (303) without a session, or 403/404.
      {"GET /portal", {303, 303, 303, 303, 303, 303, 303}},
      {"GET /portal/login", {200, 200, 200, 200, 200, 200, 200}},
      {"POST /portal/login", {303, 303, 303, 303, 303, 303, 403}},
      {"POST /portal/logout", {303, 303, 303, 303, 303, 303, 303}},
      {"GET /portal/static/portal.css", {200, 200, 200, 200, 200, 200, 200}},
      {"GET /portal/partners", {200, 200, 200, 200, 403, 403, 303}},
      {"GET /portal/partners/{partner}", {200, 200, 200, 200, 200, 404, 303}},
      {"GET /portal/partners/{partner}/evidence", {200, 200, 200, 200, 200, 404, 303}},
      {"POST /portal/partners/{partner}/what-if", {200, 403, 200, 403, 200, 404, 401}},
      {"GET /portal/partners/{partner}/statements/{contract}/{version}/{period}/bundle", {200, 403, 200, 403, 200, 404, 303}},
      {"GET /portal/report", {200, 403, 200, 403, 403, 403, 303}},
      {"GET /portal/report.csv", {200, 403, 200, 403, 403, 403, 303}},
      {"POST /portal/close", {200, 403, 200, 403, 403, 403, 401}},
      {"GET /portal/contracts", {200, 200, 200, 200, 200, 200, 303}},
      // As for the API: the version in force, and a comment on it refused by the lifecycle (409).
      {"GET /portal/contracts/{contract}/versions/{version}", {200, 200, 200, 200, 200, 404, 303}},
      // Not agreed in the store in this fixture: no record to sign (409), shown as a page.
      {"GET /portal/contracts/{contract}/versions/{version}/agreement", {409, 409, 409, 403, 409, 404, 303}},
      {"POST /portal/contracts/{contract}/versions/{version}/act", {409, 409, 403, 403, 409, 404, 401}},
      {"GET /portal/disputes", {200, 200, 200, 200, 200, 200, 303}},
      {"POST /portal/partners/{partner}/disputes", {403, 403, 403, 403, 422, 404, 401}},
      {"POST /portal/disputes/{id}/act", {403, 303, 303, 403, 303, 404, 401}},
      {"POST /portal/corrections/{id}/act", {403, 303, 303, 403, 303, 404, 401}},
  };
  return m;
}

std::string fill(std::string pattern, const std::string& event_id, const std::string& dispute_id = "1") {
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"{partner}", "northwind"}, {"{kpi}", "p1_first_reply"}, {"{contract}", "northwind-support"},
           {"{period}", "2026-10"}, {"{version}", "3"}, {"{event}", event_id}, {"{id}", dispute_id}}) {
    if (auto p = pattern.find(k); p != std::string::npos) pattern.replace(p, k.size(), v);
  }
  return pattern;
}

std::string csrf_for_test(const std::string& token) { return core::sha256_hex("pactwatch-csrf:" + token).substr(0, 32); }

TEST_P(ApiTest, AuthorizationMatrixCoversEveryRoute) {
  start();
  std::string event_id;
  for (const auto& e : db_->outbox().events(1000)) {
    if (e.partner == "northwind") event_id = e.id;
  }
  ASSERT_FALSE(event_id.empty()) << "the demo evaluation writes notification events";
  ASSERT_NE(event_id.find('/'), std::string::npos) << "event ids span path segments";
  // One of northwind's disputes, straight into the store (the examples' contracts allow none).
  store::Dispute seeded;
  seeded.subject = {"northwind", "northwind-support", 3, "2026-10", "p1_first_reply", "", "", ""};
  seeded.category = core::DisputeCategory::customer_caused;
  seeded.opened_at = clock_.now();
  core::DisputeAction opening;
  opening.act = core::DisputeAct::open;
  opening.party = core::Party::partner;
  opening.actor = "tok_matrix";
  opening.actor_name = "matrix";
  opening.at = clock_.now();
  opening.comment = "the customer asked us to wait";
  auto opened = db_->disputes().open(seeded, {opening}, ledger::audit_of({"tok_matrix", "matrix", "partner"}, clock_.now(), "dispute.open", "matrix", ""));
  ASSERT_TRUE(opened) << opened.error();
  const std::string dispute_id = std::to_string(opened->first.id);
  // And one of the brand's corrections of northwind.
  store::Dispute declared;
  declared.kind = core::DisputeKind::correction;
  declared.subject = {"northwind", "northwind-support", 3, "2026-10", "", "", "", ""};
  declared.category = core::DisputeCategory::brand_caused;
  declared.opened_at = clock_.now();
  declared.rules = {"p1_first_reply"};
  declared.window_from = T("2026-10-14T11:00:00Z");
  declared.window_until = T("2026-10-14T15:30:00Z");
  opening.party = core::Party::brand;
  opening.actor = "cli:ops";
  opening.comment = "brand platform outage";
  auto correction = db_->disputes().open(declared, {opening}, ledger::audit_of({"cli:ops", "ops", "admin"}, clock_.now(), "correction.declare", "matrix", ""));
  ASSERT_TRUE(correction) << correction.error();
  const std::string correction_id = std::to_string(correction->first.id);
  // Every registered route has a row, and every row a route.
  std::set<std::string> registered;
  for (const auto& r : Api::routes()) {
    const auto key = r.method + " " + r.pattern;
    registered.insert(key);
    EXPECT_TRUE(matrix().count(key)) << key << " is served but missing from the authorization matrix";
  }
  for (const auto& [key, e] : matrix()) EXPECT_TRUE(registered.count(key)) << key << " is in the matrix but not served";

  const std::vector<std::pair<std::string, const std::string*>> who{
      {"admin", &tokens_.admin}, {"approver", &tokens_.approver}, {"finance", &tokens_.finance}, {"viewer", &tokens_.viewer},
      {"own", &tokens_.northwind}, {"other", &tokens_.contoso}, {"none", nullptr}};
  for (const auto& r : Api::routes()) {
    const auto key = r.method + " " + r.pattern;
    if (!matrix().count(key)) continue;
    const Expect& e = matrix().at(key);
    const int expected[] = {e.admin, e.approver, e.finance, e.viewer, e.own, e.other, e.none};
    const bool corrections = r.pattern.starts_with("/v1/corrections/") || r.pattern.starts_with("/portal/corrections/");
    std::string path = fill(r.pattern, event_id, corrections ? correction_id : dispute_id);
    const bool portal = r.pattern.rfind("/portal", 0) == 0;
    if (r.pattern == "/v1/compensation" || r.pattern == "/portal/report" || r.pattern == "/portal/report.csv") path += "?period=2026-10";
    if (r.pattern == "/portal/partners/{partner}/evidence") path += "?rule=p1_first_reply&period=2026-10";
    for (std::size_t i = 0; i < who.size(); ++i) {
      const std::string token = who[i].second ? *who[i].second : "";
      auto send = [&]() -> httplib::Result {
      if (portal) {
        httplib::Headers h;
        if (!token.empty()) h.emplace("Cookie", "pw_session=" + token + "; pw_login=abc");
        std::string form;
        if (r.pattern == "/portal/login") form = "csrf=abc&token=" + (token.empty() ? std::string("pw_nope") : token);
        else if (!token.empty()) form = "csrf=" + csrf_for_test(token);
        if (r.pattern == "/portal/partners/{partner}/what-if") form += "&period=2026-10&v_p1_first_reply=99%25";
        if (r.pattern == "/portal/close") form += "&period=2026-10&partner=northwind";
        if (r.pattern == "/portal/contracts/{contract}/versions/{version}/act") form += "&act=comment&comment=matrix";
        if (r.pattern == "/portal/partners/{partner}/disputes") {
          form += "&contract=northwind-support&version=3&period=2026-10&rule=p1_first_reply&category=customer_caused&reason=matrix";
        }
        if (r.pattern == "/portal/disputes/{id}/act" || r.pattern == "/portal/corrections/{id}/act") form += "&act=comment&comment=matrix";
        auto c = client();
        return r.method == "GET" ? c.Get(path, h) : c.Post(path, h, form, "application/x-www-form-urlencoded");
      }
      std::string body;
      if (r.pattern == "/v1/partners/{partner}/what-if") body = R"({"period": "2026-10", "values": {"p1_first_reply": "99%"}})";
      if (r.pattern == "/v1/periods/{period}/close") body = R"({"partner": "northwind", "with_open_disputes": true})";
      if (r.pattern == "/v1/contracts/{contract}/versions/{version}/acts") body = R"({"act": "comment", "comment": "matrix"})";
      if (r.pattern == "/v1/partners/{partner}/disputes") {
        body = R"({"contract": "northwind-support", "version": 3, "period": "2026-10", "rule": "p1_first_reply", "category": "customer_caused", "reason": "matrix"})";
      }
      if (r.pattern == "/v1/disputes/{id}/acts" || r.pattern == "/v1/corrections/{id}/acts") body = R"({"act": "comment", "comment": "matrix"})";
      if (r.pattern == "/v1/partners/{partner}/corrections") body = correction_body();
      return call(r.method, path, token, r.pattern, body);
      };
      auto res = send();
      ASSERT_TRUE(res) << key;
      EXPECT_EQ(res->status, expected[i]) << key << " as " << who[i].first << ": " << res->body.substr(0, 300);
      // A partner token never sees another partner's name or id in any answer.
      if (who[i].first == "own") {
        EXPECT_EQ(res->body.find("contoso"), std::string::npos) << key;
        EXPECT_EQ(res->body.find("fabrikam"), std::string::npos) << key;
        EXPECT_EQ(res->body.find("tailspin"), std::string::npos) << key;
      }
    }
  }
}

TEST_P(ApiTest, PartnerSeesOnlyItsOwnStanding) {
  start();
  const auto list = get_json("/v1/partners", tokens_.northwind, 200, "/v1/partners");
  ASSERT_EQ(list["items"].size(), 1u);
  EXPECT_EQ(list["items"][0]["id"], "northwind");
  const auto contracts = get_json("/v1/contracts", tokens_.northwind, 200, "/v1/contracts");
  for (const auto& c : contracts["items"]) EXPECT_EQ(c["partner"], "northwind");
  // Another partner's resources answer exactly as missing ones do.
  auto other = call("GET", "/v1/partners/contoso-eu/kpis", tokens_.northwind);
  auto missing = call("GET", "/v1/partners/no-such-partner/kpis", tokens_.northwind);
  ASSERT_TRUE(other && missing);
  EXPECT_EQ(other->status, 404);
  EXPECT_EQ(missing->status, 404);
  auto strip = [](std::string body) {
    auto j = json::parse(body);
    j.erase("detail");
    j.erase("instance");
    return j;
  };
  EXPECT_EQ(strip(other->body), strip(missing->body));
  // The October scorecard: the stored evaluation, with each rule's value, target and status.
  const auto kpis = get_json("/v1/partners/northwind/kpis?period=2026-10", tokens_.northwind, 200, "/v1/partners/{partner}/kpis");
  ASSERT_EQ(kpis["contracts"].size(), 1u);
  const auto& c = kpis["contracts"][0];
  EXPECT_EQ(c["evaluation"], "stored");
  EXPECT_EQ(c["period"]["label"], "2026-10");
  bool seen = false;
  for (const auto& r : c["rules"]) {
    if (r["id"] != "p1_first_reply") continue;
    seen = true;
    EXPECT_EQ(r["value"], "66.67%");
    EXPECT_EQ(r["target"], ">= 95.00%");
    EXPECT_EQ(r["sample"], 3);
    EXPECT_EQ(r["status"], "insufficient_data");
    EXPECT_FALSE(r.contains("evidence"));
  }
  EXPECT_TRUE(seen);
  // A bad period is a 400 problem that says what is wrong.
  auto bad = call("GET", "/v1/partners/northwind/kpis?period=2026-13", tokens_.northwind, "/v1/partners/{partner}/kpis");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(bad->get_header_value("Content-Type"), "application/problem+json");
  EXPECT_NE(bad->body.find("2026-13"), std::string::npos);
}

TEST_P(ApiTest, EvidencePagesThroughEveryItemPastTheDocumentCap) {
  // 130 urgent tickets answered late: more than the 100 a stored document lists.
  std::vector<store::Item> late;
  for (int i = 0; i < 130; ++i) {
    store::Item it;
    it.source = "bulk";
    it.external_id = "late-" + std::to_string(1000 + i);
    it.kind = "tickets";
    it.partner_id = "northwind";
    it.priority = "urgent";
    it.status = "solved";
    it.created_at = T("2026-10-13T08:00:00Z");
    it.first_reply_at = T("2026-10-13T12:00:00Z");
    it.solved_at = T("2026-10-13T13:00:00Z");
    it.updated_at = *it.solved_at;
    it.payload = R"({"status_history": [{"at": "2026-10-13T08:00:00Z", "status": "open"}, {"at": "2026-10-13T13:00:00Z", "status": "solved"}]})";
    late.push_back(it);
  }
  db_->items().upsert(late);
  app::EvaluationRunner runner(*rules_, *db_);
  runner.run_full(clock_.now(), clock_.now());
  start();
  std::set<std::string> ids;
  std::string cursor;
  int pages = 0;
  std::int64_t total = -1;
  do {
    const auto page = get_json("/v1/partners/northwind/kpis/p1_first_reply/evidence?period=2026-10&limit=40" +
                                   (cursor.empty() ? "" : "&cursor=" + cursor),
                               tokens_.northwind, 200, "/v1/partners/{partner}/kpis/{kpi}/evidence");
    total = page["total"].get<std::int64_t>();
    for (const auto& e : page["items"]) {
      EXPECT_TRUE(ids.insert(e["source"].get<std::string>() + "/" + e["id"].get<std::string>()).second) << "no item twice";
      EXPECT_TRUE(e["values"].contains("first_reply")) << "timer values come with each item";
    }
    cursor = page["next_cursor"].is_null() ? "" : page["next_cursor"].get<std::string>();
    ++pages;
  } while (!cursor.empty() && pages < 20);
  EXPECT_EQ(total, 131);  // the demo's late ticket and the 130
  EXPECT_EQ(ids.size(), 131u);
  EXPECT_EQ(pages, 4);
  // The stored document keeps 100 and says how many there are.
  const auto kpis = get_json("/v1/partners/northwind/kpis?period=2026-10", tokens_.admin);
  for (const auto& r : kpis["contracts"][0]["rules"]) {
    if (r["id"] == "p1_first_reply") {
      EXPECT_EQ(r["evidence_count"], 131);
    }
  }
  // A cursor the API did not give out is refused.
  auto bad = call("GET", "/v1/partners/northwind/kpis/p1_first_reply/evidence?cursor=%%%", tokens_.northwind);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
}

TEST_P(ApiTest, ListsPageByCursorWithACappedPageSize) {
  ApiOptions o;
  o.max_page_size = 3;
  start(o);
  std::vector<std::string> ids;
  std::string cursor;
  for (int i = 0; i < 10; ++i) {
    const auto page = get_json("/v1/partners?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor), tokens_.admin, 200, "/v1/partners");
    EXPECT_LE(page["items"].size(), 2u);
    for (const auto& p : page["items"]) ids.push_back(p["id"]);
    if (page["next_cursor"].is_null()) break;
    cursor = page["next_cursor"];
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"contoso-eu", "fabrikam-field", "northwind", "tailspin-parts"}));
  EXPECT_EQ(get_json("/v1/partners?limit=1000", tokens_.admin)["items"].size(), 3u) << "limit is capped at max_page_size";
  EXPECT_EQ(call("GET", "/v1/partners?limit=0", tokens_.admin)->status, 400);
}

TEST_P(ApiTest, FinanceReportAsJsonAndCsvAndCloseIsAudited) {
  start();
  const auto report = get_json("/v1/compensation?period=2026-10", tokens_.finance, 200, "/v1/compensation");
  ASSERT_EQ(report["statements"].size(), 4u);
  EXPECT_EQ(report["totals"]["EUR"], "132000.00");
  EXPECT_EQ(report["totals"]["USD"], "18500.00");
  auto csv = call("GET", "/v1/compensation?period=2026-10", tokens_.finance, "/v1/compensation", "", "", {{"Accept", "text/csv"}});
  ASSERT_TRUE(csv);
  EXPECT_EQ(csv->status, 200);
  EXPECT_EQ(csv->get_header_value("Content-Type").rfind("text/csv", 0), 0u);
  // Parsed back: one row per statement with the same totals, then a TOTAL row per currency.
  auto rows = sources::parse_csv(csv->body, "report.csv");
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u + 4u + 2u);
  const auto& header = (*rows)[0].fields;
  const auto total_col = static_cast<std::size_t>(std::find(header.begin(), header.end(), "total") - header.begin());
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ((*rows)[i + 1].fields[0], report["statements"][i]["partner"]);
    EXPECT_EQ((*rows)[i + 1].fields[total_col], report["statements"][i]["total"]);
  }
  std::ofstream(dir_.path() / "report.csv") << csv->body;
  std::ofstream(dir_.path() / "report.json") << report.dump();
  auto py = testutils::run({"/usr/bin/python3", kSource + "/tests/integration/csv_check.py", (dir_.path() / "report.csv").string(),
                            (dir_.path() / "report.json").string()});
  EXPECT_EQ(py.exit_code, 0) << py.out << py.err;

  // Close October for every partner: refused as a whole, because a quarterly contract's quarter
  // has not ended; nothing is closed.
  auto all = call("POST", "/v1/periods/2026-10/close", tokens_.finance, "/v1/periods/{period}/close");
  ASSERT_TRUE(all);
  EXPECT_EQ(all->status, 409);
  EXPECT_NE(all->body.find("2026-Q4 has not ended"), std::string::npos) << all->body;
  EXPECT_FALSE(db_->statements().find("northwind-support", 3, "2026-10"));
  // For northwind: closed once, verified the second time; both in the audit log.
  const std::string northwind = R"({"partner": "northwind"})";
  auto closed = call("POST", "/v1/periods/2026-10/close", tokens_.finance, "/v1/periods/{period}/close", northwind);
  ASSERT_TRUE(closed);
  ASSERT_EQ(closed->status, 200) << closed->body;
  const auto closed_body = json::parse(closed->body);  // bound: a range-for over a temporary's member dangles
  ASSERT_FALSE(closed_body["outcomes"].empty());
  for (const auto& o : closed_body["outcomes"]) EXPECT_TRUE(o["outcome"] == "closed" || o["outcome"] == "skipped_draft") << o;
  auto again = call("POST", "/v1/periods/2026-10/close", tokens_.admin, "/v1/periods/{period}/close", northwind);
  ASSERT_TRUE(again);
  const auto again_body = json::parse(again->body);
  ASSERT_FALSE(again_body["outcomes"].empty());
  for (const auto& o : again_body["outcomes"]) EXPECT_TRUE(o["outcome"] == "reproduced" || o["outcome"] == "skipped_draft") << o;
  auto open_period = call("POST", "/v1/periods/2026-11/close", tokens_.finance, "/v1/periods/{period}/close", northwind);
  ASSERT_TRUE(open_period);
  EXPECT_EQ(open_period->status, 409) << open_period->body;
  const auto audit = get_json("/v1/audit", tokens_.admin, 200, "/v1/audit");
  std::vector<std::string> actions;
  for (const auto& e : audit["items"]) actions.push_back(e["action"].get<std::string>() + " " + e["outcome"].get<std::string>().substr(0, 3));
  EXPECT_NE(std::find(actions.begin(), actions.end(), "POST /v1/periods/{period}/close 200"), actions.end());
  EXPECT_NE(std::find(actions.begin(), actions.end(), "POST /v1/periods/{period}/close 409"), actions.end());
  EXPECT_NE(std::find(actions.begin(), actions.end(), "GET /v1/compensation 200"), actions.end());
  // Paged newest first: the pages of one entry each walk back through the same entries.
  std::vector<std::int64_t> seqs;
  std::string cursor;
  for (int i = 0; i < 50; ++i) {
    const auto page = get_json("/v1/audit?limit=1" + (cursor.empty() ? "" : "&cursor=" + cursor), tokens_.admin, 200, "/v1/audit");
    for (const auto& e : page["items"]) seqs.push_back(e["seq"]);
    if (page["next_cursor"].is_null()) break;
    cursor = page["next_cursor"];
  }
  ASSERT_EQ(seqs.size(), audit["items"].size());
  for (std::size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], audit["items"][i]["seq"]);
  // The closed statement reads back frozen for the partner.
  const auto st = get_json("/v1/partners/northwind/statements?period=2026-10", tokens_.northwind, 200, "/v1/partners/{partner}/statements");
  ASSERT_EQ(st["statements"].size(), 1u);
  EXPECT_EQ(st["statements"][0]["status"], "closed");
  EXPECT_EQ(st["statements"][0]["total"], "42000.00");
  // What-if never writes: the statement still reads closed afterwards.
  auto wi = call("POST", "/v1/partners/northwind/what-if", tokens_.northwind, "/v1/partners/{partner}/what-if",
                 R"({"period": "2026-10", "values": {"nonexistent_kpi": "50%"}})");
  ASSERT_TRUE(wi);
  EXPECT_EQ(wi->status, 400) << wi->body;
  EXPECT_NE(wi->body.find("nonexistent_kpi"), std::string::npos);
}

// A partner downloads its closed statement's bundle, which verifies with nothing but itself;
// another partner's bundle answers exactly as a missing one does. Finance verifies the ledger.
TEST_P(ApiTest, StatementBundlesAreThePartnersOwnAndTheLedgerVerifies) {
  start();
  for (const char* partner : {R"({"partner": "northwind"})", R"({"partner": "fabrikam-field"})"}) {
    auto closed = call("POST", "/v1/periods/2026-10/close", tokens_.finance, "/v1/periods/{period}/close", partner);
    ASSERT_TRUE(closed);
    ASSERT_EQ(closed->status, 200) << closed->body;
  }
  const std::string pattern = "/v1/partners/{partner}/statements/{contract}/{version}/{period}/bundle";
  auto own = call("GET", "/v1/partners/northwind/statements/northwind-support/3/2026-10/bundle", tokens_.northwind, pattern);
  ASSERT_TRUE(own);
  ASSERT_EQ(own->status, 200) << own->body;
  EXPECT_NE(own->get_header_value("Content-Disposition").find("statement-northwind-support-v3-2026-10.json"), std::string::npos);
  const auto bundle = json::parse(own->body);
  const auto check = ledger::verify_bundle(bundle);
  EXPECT_TRUE(check.ok()) << check.summary;
  EXPECT_EQ(bundle["statement"]["partner"], "northwind");
  EXPECT_EQ(own->body.find("fabrikam"), std::string::npos);
  // Fabrikam's closed statement, asked for by Northwind under its own path or Fabrikam's, answers
  // as a statement that does not exist: the same status and the same words.
  auto foreign = call("GET", "/v1/partners/northwind/statements/fabrikam-field/1/2026-10/bundle", tokens_.northwind, pattern);
  auto missing = call("GET", "/v1/partners/northwind/statements/fabrikam-fielx/1/2026-10/bundle", tokens_.northwind, pattern);
  ASSERT_TRUE(foreign && missing);
  EXPECT_EQ(foreign->status, 404);
  EXPECT_EQ(missing->status, 404);
  std::string as_missing = foreign->body;
  for (std::size_t at; (at = as_missing.find("fabrikam-field")) != std::string::npos;) as_missing.replace(at, 14, "fabrikam-fielx");
  EXPECT_EQ(as_missing, missing->body);
  auto other_path = call("GET", "/v1/partners/fabrikam-field/statements/fabrikam-field/1/2026-10/bundle", tokens_.northwind, pattern);
  auto no_partner = call("GET", "/v1/partners/fabrikam-fielx/statements/fabrikam-field/1/2026-10/bundle", tokens_.northwind, pattern);
  ASSERT_TRUE(other_path && no_partner);
  EXPECT_EQ(other_path->status, 404);
  std::string other_as_missing = other_path->body;
  other_as_missing.replace(other_as_missing.find("fabrikam-field"), 14, "fabrikam-fielx");
  other_as_missing.replace(other_as_missing.find("fabrikam-field"), 14, "fabrikam-fielx");
  EXPECT_EQ(other_as_missing.substr(0, other_as_missing.find("\"instance\"")), no_partner->body.substr(0, no_partner->body.find("\"instance\"")));
  EXPECT_EQ(call("GET", "/v1/partners/northwind/statements/northwind-support/3/2026-10/bundle", tokens_.viewer)->status, 403);
  // The portal's statement links to it, for the partner's own statement only.
  auto c = client();
  const httplib::Headers cookie{{"Cookie", "pw_session=" + tokens_.northwind}};
  auto card = c.Get("/portal/partners/northwind?period=2026-10", cookie);
  ASSERT_EQ(card->status, 200);
  const std::string link = "/portal/partners/northwind/statements/northwind-support/3/2026-10/bundle";
  EXPECT_NE(card->body.find(link), std::string::npos);
  auto download = c.Get(link, cookie);
  ASSERT_EQ(download->status, 200);
  EXPECT_EQ(json::parse(download->body), bundle);
  EXPECT_EQ(c.Get("/portal/partners/northwind/statements/fabrikam-field/1/2026-10/bundle", cookie)->status, 404);
  // Finance verifies the whole ledger; every download and verification is in the audit log.
  const auto verified = get_json("/v1/ledger/verify", tokens_.finance, 200, "/v1/ledger/verify");
  EXPECT_EQ(verified["verified"], true) << verified.dump(2);
  EXPECT_GE(verified["statements"].get<int>(), 2);
  EXPECT_GE(verified["audit_entries"].get<int>(), 2);
  EXPECT_TRUE(verified["heads"].contains("northwind-support"));
}

// Every link a notification event carries answers, followed as given, every token allowed to see
// the event's partner, and names the event's own contract, version, rule and period; another
// partner's token gets the 404 it gets for anything not its own. Every event type is made: the
// demo's evaluation gives breaches and violations; statuses set aside on the stored documents and
// put back give at-risk, recoveries and the brand's obligations; a close gives statement.closed;
// two days later come reminders.
TEST_P(ApiTest, EveryLinkOfEveryEventResolvesForTheTokensAllowedToSeeIt) {
  ApiOptions unlimited;
  unlimited.rate_per_second = 0;  // hundreds of links, each asked as six tokens
  start(unlimited);
  auto at = clock_.now();
  for (const auto& c : rules_->contracts) {
    for (const char* label : {"2026-10", "2026-11", "2026-Q3", "2026-Q4"}) {
      const auto doc = db_->evaluations().document(c.contract, c.version, label);
      if (!doc) continue;
      const auto stored = app::evaluation_record(json::parse(*doc));
      for (std::size_t i = 0; i < stored.statuses.size(); ++i) {
        const bool kpi = stored.statuses[i].rule.starts_with("kpi:");
        for (const char* status : kpi ? std::vector<const char*>{"at_risk", "breached", "met"} : std::vector<const char*>{"breached"}) {
          auto aside = stored;
          aside.statuses[i].status = status;
          db_->evaluations().save(aside, at += std::chrono::seconds(1));
        }
        db_->evaluations().save(stored, at += std::chrono::seconds(1));  // the document in force again
      }
    }
  }
  auto closed = call("POST", "/v1/periods/2026-10/close", tokens_.finance, "", R"({"partner": "northwind"})");
  ASSERT_TRUE(closed);
  ASSERT_EQ(closed->status, 200) << closed->body;
  EXPECT_GT(db_->outbox().write_reminders(clock_.now() + std::chrono::days(2), std::chrono::hours(24)), 0);

  std::map<std::string, std::string> own;  // partner -> its token
  own["northwind"] = tokens_.northwind;
  own["contoso-eu"] = tokens_.contoso;
  for (const auto& p : rules_->partners) {
    if (!own.contains(p.id)) own[p.id] = make_token("partner", p.id);
  }
  const auto events = db_->outbox().events(100000);
  std::set<std::string> types;
  std::map<std::pair<std::string, std::string>, int> answered;  // (link, token) -> status, each asked once
  auto follow = [&](const std::string& link, const std::string& token) {
    const auto key = std::pair(link, token);
    if (!answered.contains(key)) {
      auto r = call("GET", link, token);
      answered[key] = r ? r->status : -1;
      if (r && r->status == 200 && link.find("/evidence?") != std::string::npos) {
        const auto body = json::parse(r->body);
        answered[key] = body.contains("contract") ? 200 : -2;
      }
    }
    return answered[key];
  };
  int reminders = 0, followed = 0;
  for (const auto& e : events) {
    SCOPED_TRACE(e.id);
    types.insert(e.type);
    reminders += e.id.find("/reminder/") != std::string::npos ? 1 : 0;
    const auto links = store::event_links(e);
    ASSERT_FALSE(links.empty());
    // The webhook's body carries exactly these links.
    const auto data = json::parse(notify::cloudevent(e))["data"];
    for (const auto& [name, path] : links) EXPECT_EQ(data.value(name, ""), path) << name;
    const rules::ContractVersion* contract = nullptr;
    for (const auto& c : rules_->contracts) {
      if (c.contract == e.contract && c.version == e.version) contract = &c;
    }
    ASSERT_TRUE(contract);
    for (const auto& [name, path] : links) {
      SCOPED_TRACE(path);
      const bool money = name == "statements";
      EXPECT_EQ(follow(path, tokens_.admin), 200);
      EXPECT_EQ(follow(path, tokens_.finance), 200);
      EXPECT_EQ(follow(path, tokens_.viewer), money ? 403 : 200);
      // A partner sees its enforced contracts only: a draft's evidence is not found, and its
      // standing answers without the draft (checked below).
      EXPECT_EQ(follow(path, own.at(e.partner)), contract->enforced || name == "standing" ? 200 : 404);
      for (const auto& [partner, token] : own) {
        if (partner != e.partner) {
          EXPECT_EQ(follow(path, token), 404) << partner;
        }
      }
      ++followed;
    }
    // The partner's standing holds the event's contract exactly when the partner may see it.
    const auto standing = std::find_if(links.begin(), links.end(), [](const auto& l) { return l.first == "standing"; });
    if (standing != links.end()) {
      const auto body = get_json(standing->second, own.at(e.partner));
      bool listed = false;
      for (const auto& c : body["contracts"]) listed = listed || (c["contract"] == e.contract && c["version"] == e.version);
      EXPECT_EQ(listed, contract->enforced);
    }
    // The evidence link names the event's own contract version, rule and period.
    const auto evidence = std::find_if(links.begin(), links.end(), [](const auto& l) { return l.first == "evidence"; });
    if (evidence != links.end()) {
      const auto body = get_json(evidence->second, tokens_.admin);
      EXPECT_EQ(body["contract"], e.contract);
      EXPECT_EQ(body["version"], e.version);
      EXPECT_EQ(body["rule"], e.subject.substr(e.subject.find(':') + 1));
      EXPECT_EQ(body["period"]["label"], e.period);
    }
  }
  for (const char* type : {"kpi.breached", "kpi.at_risk", "kpi.recovered", "standard.violated", "obligation.breached", "statement.closed"}) {
    EXPECT_TRUE(types.contains(type)) << type;
  }
  EXPECT_GT(reminders, 0);
  // The admin's list of notifications shows the same links.
  const auto listed = get_json("/v1/notifications?limit=200", tokens_.admin, 200, "/v1/notifications");
  for (const auto& item : listed["items"]) {
    const auto event = db_->outbox().event(item["id"]);
    ASSERT_TRUE(event);
    for (const auto& [name, path] : store::event_links(*event)) EXPECT_EQ(item["data"].value(name, ""), path);
  }
  std::cout << events.size() << " events of " << types.size() << " types, " << followed << " links, "
            << answered.size() << " distinct requests\n";
}

TEST_P(ApiTest, DeadLettersAreListedAndRetried) {
  start();
  const auto now = clock_.now();
  auto due = db_->outbox().due("ops-hook", now, T("2020-01-01T00:00:00Z"), 5);
  ASSERT_FALSE(due.empty());
  auto dead = due[0];
  dead.status = "dead";
  dead.attempts = 8;
  dead.last_error = "HTTP 500 from receiver";
  db_->outbox().update_delivery(dead);
  const auto list = get_json("/v1/notifications?status=dead", tokens_.admin, 200, "/v1/notifications");
  ASSERT_EQ(list["items"].size(), 1u);
  EXPECT_EQ(list["items"][0]["id"], dead.event_id);
  EXPECT_EQ(list["items"][0]["deliveries"][0]["last_error"], "HTTP 500 from receiver");
  auto retried = call("POST", "/v1/notifications/" + dead.event_id + "/retry", tokens_.admin, "/v1/notifications/{event}/retry");
  ASSERT_TRUE(retried);
  EXPECT_EQ(json::parse(retried->body)["requeued"], 1);
  EXPECT_TRUE(get_json("/v1/notifications?status=dead", tokens_.admin)["items"].empty());
  // The whole outbox pages by (created_at, id) without repeats.
  std::set<std::string> ids;
  std::string cursor;
  for (int i = 0; i < 100; ++i) {
    const auto page = get_json("/v1/notifications?limit=3" + (cursor.empty() ? "" : "&cursor=" + cursor), tokens_.admin, 200, "/v1/notifications");
    for (const auto& e : page["items"]) EXPECT_TRUE(ids.insert(e["id"]).second);
    if (page["next_cursor"].is_null()) break;
    cursor = page["next_cursor"];
  }
  EXPECT_EQ(ids.size(), db_->outbox().events(100000).size());
  EXPECT_EQ(call("POST", "/v1/notifications/no-such-event/retry", tokens_.admin)->status, 404);
}

TEST_P(ApiTest, TokensExpireAreRevokedAndAreRateLimited) {
  ApiOptions o;
  o.rate_per_second = 1;
  o.rate_burst = 2;
  o.token_cache_ttl = std::chrono::seconds(5);
  start(o);
  // Burst of two, then 429 with Retry-After; a second later one more.
  EXPECT_EQ(call("GET", "/v1/partners", tokens_.viewer)->status, 200);
  EXPECT_EQ(call("GET", "/v1/partners", tokens_.viewer)->status, 200);
  auto limited = call("GET", "/v1/partners", tokens_.viewer, "/v1/partners");
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->status, 429);
  EXPECT_EQ(limited->get_header_value("Retry-After"), "1");
  EXPECT_EQ(call("GET", "/v1/partners", tokens_.admin)->status, 200) << "limits are per token";
  clock_.advance(std::chrono::seconds(1));
  EXPECT_EQ(call("GET", "/v1/partners", tokens_.viewer)->status, 200);

  // Malformed (bad checksum) and unknown tokens: 401 with a problem.
  std::string flipped = tokens_.finance;
  flipped[10] = flipped[10] == 'a' ? 'b' : 'a';
  auto bad = call("GET", "/v1/partners", flipped, "/v1/partners");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 401);
  EXPECT_NE(bad->get_header_value("WWW-Authenticate").find("invalid_token"), std::string::npos);
  auto unknown = issue_token("admin", std::nullopt, "x", std::nullopt, clock_.now()).text;
  EXPECT_EQ(call("GET", "/v1/partners", unknown)->status, 401);

  // Revoked: refused once the cache entry is older than its TTL.
  const auto id = db_->tokens().by_hash(token_hash(tokens_.finance))->id;
  EXPECT_EQ(call("GET", "/v1/contracts", tokens_.finance)->status, 200);
  ASSERT_TRUE(db_->tokens().revoke(id, clock_.now()));
  clock_.advance(std::chrono::seconds(6));
  EXPECT_EQ(call("GET", "/v1/contracts", tokens_.finance)->status, 401);

  // Expired.
  auto t = issue_token("viewer", std::nullopt, "short", clock_.now() + std::chrono::hours(1), clock_.now());
  db_->tokens().create(t.record, 2, clock_.now());
  EXPECT_EQ(call("GET", "/v1/contracts", t.text)->status, 200);
  clock_.advance(std::chrono::hours(2));
  EXPECT_EQ(call("GET", "/v1/contracts", t.text)->status, 401);

  // Two live tokens per partner: a third is refused until one is revoked.
  auto third = issue_token("partner", std::string("northwind"), "third", std::nullopt, clock_.now());
  db_->tokens().create(third.record, 2, clock_.now());
  auto fourth = issue_token("partner", std::string("northwind"), "fourth", std::nullopt, clock_.now());
  EXPECT_THROW(db_->tokens().create(fourth.record, 2, clock_.now()), store::TokenLimit);
  ASSERT_TRUE(db_->tokens().revoke(third.record.id, clock_.now()));
  EXPECT_NO_THROW(db_->tokens().create(fourth.record, 2, clock_.now()));
}

TEST_P(ApiTest, BadRequestsGetProblemsAndBoundedBodies) {
  ApiOptions o;
  o.max_body_bytes = 1024;
  start(o);
  auto method = call("DELETE", "/v1/partners", tokens_.admin);
  ASSERT_TRUE(method);
  EXPECT_EQ(method->status, 405);
  EXPECT_EQ(method->get_header_value("Allow"), "GET");
  auto none = call("GET", "/v1/nothing/here", tokens_.admin);
  EXPECT_EQ(none->status, 404);
  EXPECT_EQ(none->get_header_value("Content-Type"), "application/problem+json");
  auto big = call("POST", "/v1/partners/northwind/what-if", tokens_.admin, "", std::string(4096, ' '));
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  auto form = call("POST", "/v1/partners/northwind/what-if", tokens_.admin, "", "a=b", "application/x-www-form-urlencoded");
  EXPECT_EQ(form->status, 415);
  auto broken = call("POST", "/v1/partners/northwind/what-if", tokens_.admin, "/v1/partners/{partner}/what-if", "{\"values\": ");
  EXPECT_EQ(broken->status, 400);
  // Counters by route template, never by raw path.
  const auto metrics = api_->prometheus();
  EXPECT_NE(metrics.find("pactwatch_api_requests_total{route=\"/v1/partners/{partner}/what-if\",method=\"POST\",code=\"400\"} 1"),
            std::string::npos)
      << metrics;
  EXPECT_EQ(metrics.find("northwind"), std::string::npos);
  // An oversized header is refused before any handler runs, and the server keeps answering.
  httplib::Client c("127.0.0.1", port_);
  auto huge = c.Get("/v1/partners", {{"Authorization", "Bearer " + tokens_.admin}, {"X-Padding", std::string(100'000, 'x')}});
  ASSERT_TRUE(huge);
  EXPECT_GE(huge->status, 400);
  EXPECT_LT(huge->status, 500);
  auto after = call("GET", "/v1/partners", tokens_.admin);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
}

TEST_P(ApiTest, TraversalInAPathReachesNoFileAndNoOtherPartner) {
  start();
  // No route serves files (the portal's pages are compiled in); dot segments, raw or encoded, in
  // any route reach neither a file on disk nor another partner's data.
  httplib::Client c("127.0.0.1", port_);
  const httplib::Headers as_northwind{{"Authorization", "Bearer " + tokens_.northwind}};
  for (const std::string path : {"/portal/../../../../etc/passwd", "/portal/..%2f..%2f..%2f..%2fetc%2fpasswd",
                                 "/portal/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/../../../../etc/passwd", "/v1/..%2f..%2f..%2fetc%2fpasswd",
                                 "/portal/static/..%252f..%252fetc%252fpasswd"}) {
    auto r = c.Get(path, as_northwind);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->body.find("root:"), std::string::npos) << path;
  }
  for (const std::string path : {"/v1/partners/..%2fcontoso-eu/kpis", "/v1/partners/northwind%2f..%2fcontoso-eu/kpis",
                                 "/v1/partners/northwind/../contoso-eu/kpis", "/v1/partners/%2e%2e/partners/contoso-eu/kpis"}) {
    auto r = c.Get(path, as_northwind);
    ASSERT_TRUE(r) << path;
    EXPECT_GE(r->status, 400) << path;
    EXPECT_LT(r->status, 500) << path;  // a problem (its detail may echo the path), never the standing
  }
}

TEST_P(ApiTest, PortalSignsInWithACookieAndShowsTheScorecard) {
  start();
  auto c = client();
  auto login = c.Get("/portal/login");
  ASSERT_TRUE(login);
  const auto set = login->get_header_value("Set-Cookie");
  ASSERT_NE(set.find("pw_login="), std::string::npos);
  const auto csrf = set.substr(9, set.find(';') - 9);
  EXPECT_NE(login->body.find("name=\"csrf\" value=\"" + csrf + "\""), std::string::npos);
  // Without the login cookie the form is refused (CSRF), with it the session cookie is set.
  auto forged = c.Post("/portal/login", "csrf=" + csrf + "&token=" + tokens_.northwind, "application/x-www-form-urlencoded");
  EXPECT_EQ(forged->status, 403);
  auto ok = c.Post("/portal/login", {{"Cookie", "pw_login=" + csrf}}, "csrf=" + csrf + "&token=" + tokens_.northwind,
                   "application/x-www-form-urlencoded");
  ASSERT_EQ(ok->status, 303);
  const auto session = ok->get_header_value("Set-Cookie");
  EXPECT_NE(session.find("HttpOnly"), std::string::npos);
  EXPECT_NE(session.find("SameSite=Strict"), std::string::npos);
  const httplib::Headers cookie{{"Cookie", "pw_session=" + tokens_.northwind}};
  auto home = c.Get("/portal", cookie);
  EXPECT_EQ(home->get_header_value("Location"), "/portal/partners/northwind");
  auto card = c.Get("/portal/partners/northwind?period=2026-10", cookie);
  ASSERT_EQ(card->status, 200);
  EXPECT_NE(card->body.find("Northwind Support Ltd"), std::string::npos);
  EXPECT_NE(card->body.find("66.67%"), std::string::npos);
  EXPECT_NE(card->body.find("<svg"), std::string::npos);
  EXPECT_NE(card->body.find("42000.00"), std::string::npos) << "the partner's own statement";
  for (const char* other : {"contoso", "Contoso", "fabrikam", "Fabrikam", "tailspin", "Tailspin"}) {
    EXPECT_EQ(card->body.find(other), std::string::npos) << other;
  }
  EXPECT_NE(card->get_header_value("Content-Security-Policy").find("default-src 'none'"), std::string::npos);
  // A form without its CSRF token is refused; with it, the what-if statement shows.
  auto no_csrf = c.Post("/portal/partners/northwind/what-if", cookie, "period=2026-10&v_p1_first_reply=99%25",
                        "application/x-www-form-urlencoded");
  EXPECT_EQ(no_csrf->status, 403);
  auto wi = c.Post("/portal/partners/northwind/what-if", cookie,
                   "csrf=" + csrf_for_test(tokens_.northwind) + "&period=2026-10&v_p1_first_reply=99%25",
                   "application/x-www-form-urlencoded");
  EXPECT_EQ(wi->status, 200);
  EXPECT_NE(wi->body.find("what_if"), std::string::npos);
  // Names are escaped: a rule id with markup cannot inject HTML.
  auto evil = c.Get("/portal/partners/northwind/evidence?rule=%3Cscript%3Ex&period=2026-10", cookie);
  EXPECT_EQ(evil->status, 404);
  EXPECT_EQ(evil->body.find("<script>"), std::string::npos);
  EXPECT_NE(evil->body.find("&lt;script&gt;"), std::string::npos);
}

TEST_P(ApiTest, ProtocolDetailsFollowTheRfcs) {
  start();
  // API answers are never content-sniffed: JSON and problems alike.
  auto ok = call("GET", "/v1/partners", tokens_.admin, "/v1/partners");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->get_header_value("X-Content-Type-Options"), "nosniff");
  auto anonymous = call("GET", "/v1/partners", "");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_EQ(anonymous->get_header_value("X-Content-Type-Options"), "nosniff");
  // The authentication scheme is case-insensitive (RFC 9110 section 11.1); another scheme is not a bearer token.
  for (const std::string scheme : {"BEARER", "bearer", "BeArEr", "Bearer "}) {
    auto r = client().Get("/v1/partners", {{"Authorization", scheme + " " + tokens_.viewer}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << scheme;
  }
  EXPECT_EQ(client().Get("/v1/partners", {{"Authorization", "Basic " + tokens_.viewer}})->status, 401);
  EXPECT_EQ(client().Get("/v1/partners", {{"Authorization", "Bearer"}})->status, 401);
  // A JSON body is application/json exactly, with or without parameters, in any case.
  const std::string what_if = "/v1/partners/northwind/what-if";
  const std::string body = R"({"period": "2026-10", "values": {"p1_first_reply": "99%"}})";
  for (const std::string type : {"application/json", "application/json; charset=utf-8", "Application/JSON", "application/json ;charset=UTF-8"}) {
    EXPECT_EQ(call("POST", what_if, tokens_.admin, "", body, type)->status, 200) << type;
  }
  for (const std::string type : {"application/jsonx", "application/json-seq", "text/plain", "application/x-www-form-urlencoded"}) {
    EXPECT_EQ(call("POST", what_if, tokens_.admin, "", body, type)->status, 415) << type;
  }
  // OPTIONS on a route answers 405 with Allow (the API and the portal); an unknown path 404.
  auto c = client();
  auto options = c.Options("/v1/partners", {{"Authorization", "Bearer " + tokens_.admin}});
  ASSERT_TRUE(options);
  EXPECT_EQ(options->status, 405);
  EXPECT_EQ(options->get_header_value("Allow"), "GET");
  auto portal = c.Options("/portal/partners");
  ASSERT_TRUE(portal);
  EXPECT_EQ(portal->status, 405);
  EXPECT_EQ(portal->get_header_value("Allow"), "GET, HEAD");
  EXPECT_EQ(c.Options("/portal/login")->get_header_value("Allow"), "GET, HEAD, POST");
  EXPECT_EQ(c.Options("/v1/nowhere", {{"Authorization", "Bearer " + tokens_.admin}})->status, 404);
  // HEAD: the GET's status and length, no body.
  auto head = c.Head("/v1/partners", {{"Authorization", "Bearer " + tokens_.admin}});
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->body.empty());
  EXPECT_EQ(head->get_header_value("Content-Length"), std::to_string(ok->body.size()));
}

TEST_P(ApiTest, AStandingKeptInMemoryIsAnsweredLikeAnyOther) {
  // The second request finds the standing in memory and is answered on the server's I/O thread:
  // the same answer, the same checks, the same rate and counters.
  ApiOptions o;
  o.rate_per_second = 1;
  o.rate_burst = 3;
  start(o);
  const std::string kpis = "/v1/partners/northwind/kpis?period=2026-10";
  auto first = call("GET", kpis, tokens_.northwind, "/v1/partners/{partner}/kpis");
  auto second = call("GET", kpis, tokens_.northwind, "/v1/partners/{partner}/kpis");
  ASSERT_TRUE(first && second);
  EXPECT_EQ(second->status, 200);
  EXPECT_EQ(second->body, first->body);
  for (const char* h : {"Content-Type", "Cache-Control", "X-Content-Type-Options"}) {
    EXPECT_EQ(second->get_header_value(h), first->get_header_value(h)) << h;
  }
  EXPECT_EQ(call("GET", kpis, tokens_.contoso)->status, 404) << "another partner's token never gets the kept standing";
  EXPECT_EQ(call("GET", kpis, "")->status, 401);
  EXPECT_EQ(call("GET", kpis, tokens_.northwind)->status, 200);
  auto limited = call("GET", kpis, tokens_.northwind);
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->status, 429) << "the burst of 3 is spent whichever path answered";
  EXPECT_NE(api_->prometheus().find("pactwatch_api_requests_total{route=\"/v1/partners/{partner}/kpis\",method=\"GET\",code=\"200\"} 3"),
            std::string::npos);
  // Revoked: refused once the token's cached record is older than its TTL.
  ASSERT_TRUE(db_->tokens().revoke(db_->tokens().by_hash(token_hash(tokens_.northwind))->id, clock_.now()));
  clock_.advance(std::chrono::seconds(6));
  EXPECT_EQ(call("GET", kpis, tokens_.northwind)->status, 401);
}

TEST_P(ApiTest, ExpensiveAnswersAreReusedAndChargedByTheirCost) {
  // 2,000 of northwind's tickets in each month from January to September: periods the daemon has
  // not evaluated, which a history computes.
  std::vector<store::Item> bulk;
  for (int month = 1; month <= 9; ++month) {
    for (int i = 0; i < 2000; ++i) {
      char created[32], replied[32];
      std::snprintf(created, sizeof created, "2026-%02d-%02dT%02d:%02d:00Z", month, 2 + i % 25, 8 + i % 9, i % 60);
      std::snprintf(replied, sizeof replied, "2026-%02d-%02dT%02d:%02d:00Z", month, 2 + i % 25, 9 + i % 9, i % 60);
      store::Item it;
      it.source = "bulk";
      it.external_id = "m" + std::to_string(month) + "-" + std::to_string(i);
      it.kind = "tickets";
      it.partner_id = "northwind";
      it.priority = i % 3 == 0 ? "urgent" : "normal";
      it.status = "solved";
      it.created_at = T(created);
      it.first_reply_at = T(replied);
      it.solved_at = T(replied);
      it.updated_at = T(replied);
      it.payload = std::string(R"({"status_history": [{"at": ")") + created + R"(", "status": "open"}, {"at": ")" + replied +
                   R"(", "status": "solved"}]})";
      bulk.push_back(it);
    }
  }
  db_->items().upsert(bulk);
  ApiOptions o;
  o.rate_per_second = 1;
  o.rate_burst = 20;
  // A unit between the two answers' costs, far from both: the first history computes nine months
  // (about 1.5 s of processor time in a release build, 20 s under ASan), the cached one reads its
  // points back (5 ms, 70 ms under ASan: JSON work slows more than the factor the sanitizers get).
  o.cost_unit = std::chrono::microseconds(4000) * testutils::kSanitizerSlowdown;
  start(o);
  const std::string history = "/v1/partners/northwind/history?periods=36";
  const auto process_cpu = [] {
    timespec ts{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
  };
  double cpu_at = process_cpu();
  auto first = call("GET", history, tokens_.northwind, "/v1/partners/{partner}/history");
  const double first_cpu = process_cpu() - cpu_at;
  ASSERT_TRUE(first) << httplib::to_string(first.error());
  ASSERT_EQ(first->status, 200) << first->body;
  // Computing nine months of tickets took far more than 20 units of processor time: the token's burst of
  // 20 is spent, and it waits; another token does not.
  auto after = call("GET", "/v1/partners", tokens_.northwind);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 429);
  EXPECT_GE(std::stoi(after->get_header_value("Retry-After")), 1);
  EXPECT_EQ(call("GET", "/v1/partners", tokens_.viewer)->status, 200);
  // Two minutes later (the burst back), the same history answers from the points computed the
  // first time: the same answer, for about the price of one request.
  clock_.advance(std::chrono::minutes(2));
  cpu_at = process_cpu();
  auto second = call("GET", history, tokens_.northwind, "/v1/partners/{partner}/history");
  const double second_cpu = process_cpu() - cpu_at;
  ASSERT_TRUE(second);
  ASSERT_EQ(second->status, 200);
  EXPECT_EQ(json::parse(second->body), json::parse(first->body));
  int cheap = 0;
  while (cheap < 20 && call("GET", "/v1/partners", tokens_.northwind)->status == 200) ++cheap;
  EXPECT_GE(cheap, 5) << "the second history cost little";
  std::cout << "history?periods=36: the first answer left the token waiting " << after->get_header_value("Retry-After")
            << " s; after the cached one, " << cheap << " of 20 cheap requests passed (processor time of the process: "
            << first_cpu << " s for the first history, " << second_cpu << " s for the second)\n";
}

// Defined last, so it runs after the tests above on each backend: checks every answer recorded so
// far against the OpenAPI document, and that the document describes every route the server registers.
// A new contract version from draft to enforcement through the API, with the brand's approver and
// the partner's own token: visibility at each step, the comparison and what-if the partner reviews,
// the lifecycle's refusals, the notifications and the audit trail.
TEST_P(ApiTest, AProposalGoesFromDraftToEnforcementThroughBothParties) {
  ASSERT_NO_FATAL_FAILURE(with_v4_draft());
  start();
  const std::string v4 = "/v1/contracts/northwind-support/versions/4";
  const std::string sha4 = rules::find_version(*rules_, "northwind-support", 4).value()->sha256;
  const std::string sha3 = rules::find_version(*rules_, "northwind-support", 3).value()->sha256;
  auto act = [&](const std::string& token, const json& body, int expect) {
    auto r = call("POST", v4 + "/acts", token, "/v1/contracts/{contract}/versions/{version}/acts", body.dump());
    EXPECT_TRUE(r);
    if (!r) return json();
    EXPECT_EQ(r->status, expect) << body.dump() << ": " << r->body;
    return json::parse(r->body, nullptr, false);
  };
  auto listed = [&](const std::string& token) {
    std::set<int> versions;
    const auto list = get_json("/v1/contracts/northwind-support/versions", token);
    for (const auto& v : list["items"]) versions.insert(v["version"].get<int>());
    return versions;
  };

  // A draft is the brand's business: the partner neither sees it nor can act on it.
  EXPECT_EQ(listed(tokens_.northwind), (std::set<int>{2, 3}));
  get_json(v4 + "/proposal", tokens_.northwind, 404);
  act(tokens_.northwind, {{"act", "comment"}, {"comment", "what is this?"}}, 404);
  EXPECT_EQ(get_json(v4 + "/proposal", tokens_.approver, 200, "/v1/contracts/{contract}/versions/{version}/proposal")["agreement"]["state"],
            "draft");

  // The brand proposes; the partner sees it, another partner does not.
  auto proposed = act(tokens_.approver, {{"act", "propose"}, {"comment", "2027 terms: urgent replies tightened"}}, 201);
  EXPECT_EQ(proposed["agreement"]["state"], "proposed");
  EXPECT_EQ(proposed["act"]["actor_name"], "approver");
  ASSERT_NO_FATAL_FAILURE(refresh_rules());
  EXPECT_EQ(listed(tokens_.northwind), (std::set<int>{2, 3, 4}));
  const auto p = get_json(v4 + "/proposal", tokens_.northwind, 200, "/v1/contracts/{contract}/versions/{version}/proposal");
  EXPECT_EQ(p["agreement"]["state"], "proposed");
  EXPECT_EQ(p["in_force_version"], 3);
  ASSERT_EQ(p["thread"].size(), 1u);
  EXPECT_EQ(p["thread"][0]["act"], "propose");
  get_json(v4 + "/proposal", tokens_.contoso, 404);
  get_json(v4 + "/comparison", tokens_.contoso, 404);
  act(tokens_.contoso, {{"act", "approve"}, {"sha256", sha4}}, 404);

  // What changes, term by term, against v3.
  const auto cmp = get_json(v4 + "/comparison", tokens_.northwind, 200, "/v1/contracts/{contract}/versions/{version}/comparison");
  EXPECT_EQ(cmp["against_version"], 3);
  EXPECT_NE(std::find(cmp["rules"].begin(), cmp["rules"].end(), json{{"section", "kpis"}, {"rule", "p1_first_reply"}, {"change", "changed"}}),
            cmp["rules"].end())
      << cmp["rules"].dump();
  bool target_seen = false;
  for (const auto& t : cmp["terms"]) {
    if (t["rule"] == "p1_first_reply" && t["path"] == "objective.target") {
      target_seen = true;
      EXPECT_EQ(t["before"], ">= 95%");
      EXPECT_EQ(t["after"], ">= 97%");
    }
    EXPECT_NE(t["section"], "approvals");
  }
  EXPECT_TRUE(target_seen) << cmp["terms"].dump();

  // What it would have paid in October, next to what October paid.
  const auto wi = get_json(v4 + "/what-if?periods=3", tokens_.northwind, 200, "/v1/contracts/{contract}/versions/{version}/what-if");
  ASSERT_EQ(wi["periods"].size(), 1u) << wi.dump();
  const auto& oct = wi["periods"][0];
  EXPECT_EQ(oct["period"], "2026-10");
  EXPECT_EQ(oct["closed_version"], 3);
  ASSERT_TRUE(oct["proposed"].is_string()) << oct.dump();
  const auto eur = *core::Currency::from_code("EUR");
  const auto closed_own = *core::Money::parse(oct["closed"].get<std::string>(), eur);
  const auto proposed_own = *core::Money::parse(oct["proposed"].get<std::string>(), eur);
  EXPECT_EQ(oct["difference"], (proposed_own - closed_own).to_decimal());
  EXPECT_EQ(oct["statement"]["status"], "what_if");
  get_json(v4 + "/what-if?periods=0", tokens_.northwind, 400);
  get_json(v4 + "/what-if", tokens_.viewer, 403);

  // The lifecycle's refusals, through the API.
  act(tokens_.northwind, {{"act", "propose"}}, 409);
  act(tokens_.northwind, {{"act", "approve"}, {"sha256", sha3}}, 409);
  act(tokens_.northwind, {{"act", "approve"}}, 400);
  act(tokens_.northwind, {{"act", "reject"}}, 409);  // a rejection says why
  act(tokens_.northwind, {{"act", "sign"}}, 400);
  act(tokens_.northwind, {{"act", "comment"}, {"comment", "ok"}, {"party", "brand"}}, 400);
  act(tokens_.admin, {{"act", "approve"}, {"sha256", sha4}}, 403);
  act(tokens_.viewer, {{"act", "comment"}, {"comment", "hi"}}, 403);
  act(tokens_.finance, {{"act", "approve"}, {"sha256", sha4}}, 403);

  // A comment, then both approvals of the exact content.
  act(tokens_.northwind, {{"act", "comment"}, {"comment", "97% is tight but fair"}}, 201);
  EXPECT_EQ(act(tokens_.northwind, {{"act", "approve"}, {"sha256", sha4}}, 201)["agreement"]["state"], "approved_by_partner");
  act(tokens_.northwind, {{"act", "approve"}, {"sha256", sha4}}, 409);
  const auto agreed = act(tokens_.approver, {{"act", "approve"}, {"sha256", sha4}}, 201);
  EXPECT_EQ(agreed["agreement"]["state"], "approved");
  EXPECT_EQ(agreed["agreement"]["partner_approval"]["sha256"], sha4);
  ASSERT_NO_FATAL_FAILURE(refresh_rules());
  const auto after = get_json(v4 + "/proposal", tokens_.northwind, 200, "/v1/contracts/{contract}/versions/{version}/proposal");
  EXPECT_EQ(after["status"], "enforced");
  ASSERT_EQ(after["thread"].size(), 4u);
  EXPECT_EQ(after["thread"][1]["comment"], "97% is tight but fair");
  act(tokens_.approver, {{"act", "withdraw"}}, 409);  // agreed: a change is a new version

  // Each act that changes the state notified the other party; the agreement, both.
  std::multiset<std::pair<std::string, std::string>> events;  // type, subject
  for (const auto& e : db_->outbox().events(1000)) {
    if (e.contract == "northwind-support" && e.version == 4) events.insert({e.type, e.subject});
  }
  EXPECT_EQ(events, (std::multiset<std::pair<std::string, std::string>>{{"contract.proposed", "brand"},
                                                                        {"contract.approved", "partner"},
                                                                        {"contract.approved", "brand"},
                                                                        {"contract.enforced", "agreement"}}));
  // Every act is in the audit log under the token that took it.
  int audited = 0;
  for (const auto& a : db_->audit().newest(1000)) {
    if (a.target == "northwind-support v4" && a.action.starts_with("contract.")) ++audited;
  }
  EXPECT_EQ(audited, 4);

  // The agreement record, signed by the installation's key, verifies offline; another partner
  // cannot fetch it.
  const auto key = get_json("/v1/agreement-key", tokens_.northwind, 200, "/v1/agreement-key");
  auto doc = call("GET", v4 + "/agreement", tokens_.northwind, "/v1/contracts/{contract}/versions/{version}/agreement");
  ASSERT_TRUE(doc);
  ASSERT_EQ(doc->status, 200) << doc->body;
  EXPECT_NE(doc->get_header_value("Content-Disposition").find("northwind-support-v4-agreement.json"), std::string::npos);
  auto verified = ledger::verify_agreement(doc->body, key["public_key"].get<std::string>());
  ASSERT_TRUE(verified) << verified.error();
  EXPECT_EQ(verified->sha256, sha4);
  EXPECT_EQ(verified->key_id, key["key_id"]);
  get_json(v4 + "/agreement", tokens_.contoso, 404);
  get_json("/v1/contracts/northwind-support/versions/3/agreement", tokens_.northwind, 200);
}

// The same proposal reviewed in the portal: the brand proposes through the form, the partner sees
// the comparison, what-if and thread and approves the content shown; forms without the session's
// CSRF token, another partner, a stale content hash and a refusal without a reason are refused.
// A partner sees only content the brand proposed: once the file of a proposed version changes
// (proposed, withdrawn or any state), every route answers 404 to the partner, as for a draft,
// until the brand proposes that content; the brand still sees it (the hostile review's repro).
TEST_P(ApiTest, APartnerNeverSeesContentChangedSinceItsProposal) {
  ASSERT_NO_FATAL_FAILURE(with_v4_draft());
  start();
  const std::string v4 = "/v1/contracts/northwind-support/versions/4";
  const auto file = rules_dir_ / "contracts/northwind-support-v4.yaml";
  auto edit = [&](const std::string& from, const std::string& to) {
    std::ifstream in(file);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    in.close();
    const auto at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
    std::ofstream(file, std::ios::trunc) << text;
    ASSERT_NO_FATAL_FAILURE(refresh_rules());
  };
  auto act = [&](const std::string& token, const json& body, int expect) {
    auto r = call("POST", v4 + "/acts", token, "", body.dump());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, expect) << body.dump() << ": " << r->body;
  };
  auto hidden_from_partner = [&](const std::string& why) {
    for (const char* route : {"/proposal", "/comparison", "/what-if", "/agreement"}) {
      get_json(v4 + route, tokens_.northwind, 404);
    }
    act(tokens_.northwind, {{"act", "comment"}, {"comment", "hello?"}}, 404);
    const auto list = get_json("/v1/contracts/northwind-support/versions", tokens_.northwind);
    for (const auto& v : list["items"]) EXPECT_NE(v["version"], 4) << why;
    const auto portal = client().Get("/portal/contracts/northwind-support/versions/4", {{"Cookie", "pw_session=" + tokens_.northwind}});
    EXPECT_EQ(portal->status, 404) << why;
    EXPECT_EQ(get_json(v4 + "/proposal", tokens_.approver, 200)["status"], "draft") << "the brand sees it";
  };
  act(tokens_.approver, {{"act", "propose"}}, 201);
  ASSERT_NO_FATAL_FAILURE(refresh_rules());
  get_json(v4 + "/comparison", tokens_.northwind, 200);
  // Proposed, then edited: changed.
  ASSERT_NO_FATAL_FAILURE(edit("min_sample: 20", "min_sample: 25"));
  hidden_from_partner("changed");
  // Proposed again: visible again, with the new content.
  act(tokens_.approver, {{"act", "propose"}}, 201);
  ASSERT_NO_FATAL_FAILURE(refresh_rules());
  const auto cmp = get_json(v4 + "/comparison", tokens_.northwind, 200);
  bool seen_sample = false;
  for (const auto& t : cmp["terms"]) seen_sample = seen_sample || (t["rule"] == "p1_first_reply" && t["path"] == "min_sample" && t["after"] == "25");
  EXPECT_TRUE(seen_sample) << cmp["terms"].dump();
  // Withdrawn, then edited: the withdrawn state does not show the new content either.
  act(tokens_.approver, {{"act", "withdraw"}, {"comment", "rethinking"}}, 201);
  ASSERT_NO_FATAL_FAILURE(refresh_rules());
  get_json(v4 + "/proposal", tokens_.northwind, 200);
  ASSERT_NO_FATAL_FAILURE(edit("min_sample: 25", "min_sample: 30"));
  hidden_from_partner("withdrawn and edited");
  // A viewer sees the comparison without money, and no agreement record; the approver sees it all.
  ASSERT_NO_FATAL_FAILURE(edit("base: {fixed: \"42000.00\"}", "base: {fixed: \"41000.00\"}"));
  const auto seen = get_json(v4 + "/comparison", tokens_.viewer, 200);
  EXPECT_TRUE(seen["compensation_withheld"].get<bool>());
  for (const auto& t : seen["terms"]) EXPECT_NE(t["section"], "compensation");
  EXPECT_EQ(seen.dump().find("41000.00"), std::string::npos);
  const auto full = get_json(v4 + "/comparison", tokens_.approver, 200);
  EXPECT_FALSE(full["compensation_withheld"].get<bool>());
  EXPECT_NE(full.dump().find("41000.00"), std::string::npos);
  get_json("/v1/contracts/northwind-support/versions/3/agreement", tokens_.viewer, 403);
}

TEST_P(ApiTest, APartnerReviewsAndApprovesAProposalInThePortal) {
  ASSERT_NO_FATAL_FAILURE(with_v4_draft());
  start();
  const std::string page = "/portal/contracts/northwind-support/versions/4";
  const std::string sha4 = rules::find_version(*rules_, "northwind-support", 4).value()->sha256;
  const std::string sha3 = rules::find_version(*rules_, "northwind-support", 3).value()->sha256;
  auto c = client();
  auto as = [](const std::string& token) { return httplib::Headers{{"Cookie", "pw_session=" + token}}; };
  auto act = [&](const std::string& token, const std::string& form, const std::string& csrf_of = "") {
    const std::string csrf = csrf_for_test(csrf_of.empty() ? token : csrf_of);
    return c.Post(page + "/act", as(token), "csrf=" + csrf + "&" + form, "application/x-www-form-urlencoded");
  };

  // A draft: the partner neither finds nor lists it; the brand proposes through the form.
  EXPECT_EQ(c.Get(page, as(tokens_.northwind))->status, 404);
  EXPECT_EQ(c.Get("/portal/contracts", as(tokens_.northwind))->body.find("versions/4"), std::string::npos);
  auto proposed = act(tokens_.approver, "act=propose&sha256=" + sha4 + "&comment=2027+terms+for+review");
  ASSERT_EQ(proposed->status, 303) << proposed->body;
  EXPECT_EQ(proposed->get_header_value("Location"), page);
  ASSERT_NO_FATAL_FAILURE(refresh_rules());

  // The partner's list links the proposal and says it waits for the partner.
  const auto list = c.Get("/portal/contracts", as(tokens_.northwind));
  ASSERT_EQ(list->status, 200);
  EXPECT_NE(list->body.find("href=\"" + page + "\""), std::string::npos);
  EXPECT_NE(list->body.find("Awaits your review"), std::string::npos);
  EXPECT_NE(list->body.find("href=\"/portal/contracts\">Contracts</a>"), std::string::npos) << "the header links the contracts";

  // Its page: state, hash, what changes term by term, what October would have paid, the thread,
  // and an approve form carrying the hash shown.
  auto shown = c.Get(page, as(tokens_.northwind));
  ASSERT_EQ(shown->status, 200) << shown->body;
  const auto& html = shown->body;
  EXPECT_NE(html.find("badge st-proposed"), std::string::npos);
  EXPECT_NE(html.find(sha4), std::string::npos);
  EXPECT_NE(html.find("v3, the version in force"), std::string::npos);
  EXPECT_NE(html.find("kpis · p1_first_reply — changed"), std::string::npos) << html;
  EXPECT_NE(html.find("<td class=\"term\">&gt;= 95%</td><td class=\"term\">&gt;= 97%</td>"), std::string::npos) << html;
  EXPECT_NE(html.find("<th scope=\"row\">2026-10</th>"), std::string::npos) << "the what-if of October";
  EXPECT_NE(html.find("2027 terms for review"), std::string::npos) << "the thread";
  EXPECT_NE(html.find("name=\"sha256\" value=\"" + sha4 + "\""), std::string::npos);
  EXPECT_NE(html.find("name=\"act\" value=\"approve\""), std::string::npos);
  EXPECT_EQ(html.find("name=\"act\" value=\"propose\""), std::string::npos) << "only the brand proposes";
  EXPECT_EQ(html.find("name=\"act\" value=\"withdraw\""), std::string::npos) << "only the brand withdraws";
  EXPECT_EQ(c.Get(page + "?periods=13", as(tokens_.northwind))->status, 400);
  for (const char* other : {"contoso", "Contoso", "fabrikam", "Fabrikam", "tailspin", "Tailspin"}) {
    EXPECT_EQ(html.find(other), std::string::npos) << other;
  }
  // An admin may act for the brand but not approve: no approve button; the approver gets one.
  EXPECT_EQ(c.Get(page, as(tokens_.admin))->body.find("name=\"act\" value=\"approve\""), std::string::npos);
  EXPECT_NE(c.Get(page, as(tokens_.approver))->body.find("name=\"act\" value=\"approve\""), std::string::npos);
  EXPECT_EQ(c.Get(page, as(tokens_.viewer))->body.find("<form method=\"post\" action=\"" + page), std::string::npos);

  // Refusals: another partner, another session's CSRF token, a stale hash, a rejection without a reason.
  EXPECT_EQ(c.Get(page, as(tokens_.contoso))->status, 404);
  EXPECT_EQ(act(tokens_.contoso, "act=approve&sha256=" + sha4)->status, 404);
  EXPECT_EQ(act(tokens_.northwind, "act=approve&sha256=" + sha4, tokens_.contoso)->status, 403);
  // The CSRF token counts only in the form's body: one in the URL (which logs keep) is refused.
  EXPECT_EQ(c.Post(page + "/act?csrf=" + csrf_for_test(tokens_.northwind), as(tokens_.northwind), "act=comment&comment=via+url",
                   "application/x-www-form-urlencoded")
                ->status,
            403);
  auto stale = act(tokens_.northwind, "act=approve&sha256=" + sha3);
  EXPECT_EQ(stale->status, 409);
  EXPECT_NE(stale->body.find("stale approval"), std::string::npos) << stale->body;
  EXPECT_NE(stale->body.find("role=\"alert\""), std::string::npos);
  auto no_reason = act(tokens_.northwind, "act=reject&comment=+");
  EXPECT_EQ(no_reason->status, 400);
  EXPECT_NE(no_reason->body.find("Say why"), std::string::npos);
  EXPECT_EQ(act(tokens_.northwind, "act=sign")->status, 400);

  // A comment and the approval of the content shown: back to the page, which shows the new state.
  EXPECT_EQ(act(tokens_.northwind, "act=comment&comment=97%25+is+tight+but+fair")->status, 303);
  auto approved = act(tokens_.northwind, "act=approve&sha256=" + sha4);
  ASSERT_EQ(approved->status, 303) << approved->body;
  auto after = c.Get(page, as(tokens_.northwind));
  EXPECT_NE(after->body.find("badge st-approved_by_partner"), std::string::npos);
  EXPECT_NE(after->body.find("97% is tight but fair"), std::string::npos);
  EXPECT_EQ(after->body.find("name=\"act\" value=\"approve\""), std::string::npos) << "approved once";
  int audited = 0;
  for (const auto& a : db_->audit().newest(1000)) {
    if (a.target == "northwind-support v4" && a.action.starts_with("contract.")) ++audited;
  }
  EXPECT_EQ(audited, 3) << "propose, comment, approve";

  // Not agreed yet: no record to download. Once the brand approves, the page offers the signed
  // record, and what it serves verifies against the installation's public key.
  EXPECT_EQ(c.Get(page + "/agreement", as(tokens_.northwind))->status, 409);
  ASSERT_EQ(act(tokens_.approver, "act=approve&sha256=" + sha4)->status, 303);
  ASSERT_NO_FATAL_FAILURE(refresh_rules());
  const auto agreed = c.Get(page, as(tokens_.northwind));
  EXPECT_NE(agreed->body.find("href=\"" + page + "/agreement\" download"), std::string::npos);
  const auto record = c.Get(page + "/agreement", as(tokens_.northwind));
  ASSERT_EQ(record->status, 200) << record->body;
  EXPECT_NE(record->get_header_value("Content-Disposition").find("northwind-support-v4-agreement.json"), std::string::npos);
  const auto key = get_json("/v1/agreement-key", tokens_.northwind);
  auto verified = ledger::verify_agreement(record->body, key["public_key"].get<std::string>());
  EXPECT_TRUE(verified) << (verified ? "" : verified.error());
  EXPECT_EQ(c.Get(page + "/agreement", as(tokens_.contoso))->status, 404);
}

// A partner disputes its own item; only the brand's approver and finance answer it; another
// partner sees nothing of it; admin and viewer read but do not act; a second resolution is refused.
TEST_P(ApiTest, DisputesAreThePartnersOwnAndTheBrandResolvesThem) {
  ASSERT_NO_FATAL_FAILURE(with_disputes());
  start();
  const std::string list = "/v1/partners/{partner}/disputes", one = "/v1/disputes/{id}", acts = "/v1/disputes/{id}/acts";
  auto opened = call("POST", "/v1/partners/northwind/disputes", tokens_.northwind, list, dispute_body());
  ASSERT_TRUE(opened);
  ASSERT_EQ(opened->status, 201) << opened->body;
  const auto d = json::parse(opened->body);
  EXPECT_EQ(d["state"], "open");
  EXPECT_EQ(d["item"]["id"], "northwind-N2");
  ASSERT_EQ(d["thread"].size(), 1u);
  EXPECT_EQ(d["thread"][0]["party"], "partner");
  EXPECT_EQ(d["thread"][0]["actor_name"], "partner");
  const std::string id = std::to_string(d["id"].get<std::int64_t>());
  const std::string path = "/v1/disputes/" + id;

  // Another partner: the dispute does not exist for it, exactly as one that does not exist.
  auto strip = [](const std::string& body) {
    auto j = json::parse(body);
    j.erase("detail");
    j.erase("instance");
    return j;
  };
  auto foreign = call("GET", path, tokens_.contoso, one);
  auto missing = call("GET", "/v1/disputes/999999", tokens_.contoso, one);
  ASSERT_TRUE(foreign && missing);
  EXPECT_EQ(foreign->status, 404);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(strip(foreign->body), strip(missing->body));
  EXPECT_EQ(call("POST", path + "/acts", tokens_.contoso, acts, R"({"act": "comment", "comment": "mine?"})")->status, 404);
  EXPECT_EQ(call("GET", "/v1/partners/northwind/disputes", tokens_.contoso, list)->status, 404);
  EXPECT_EQ(call("POST", "/v1/partners/northwind/disputes", tokens_.contoso, list, dispute_body())->status, 404);
  EXPECT_TRUE(get_json("/v1/partners/contoso-eu/disputes", tokens_.contoso, 200, list)["items"].empty());

  // The partner's list, by state.
  EXPECT_EQ(get_json("/v1/partners/northwind/disputes", tokens_.northwind, 200, list)["items"].size(), 1u);
  EXPECT_EQ(get_json("/v1/partners/northwind/disputes?state=open", tokens_.northwind, 200, list)["items"].size(), 1u);
  EXPECT_TRUE(get_json("/v1/partners/northwind/disputes?state=accepted", tokens_.viewer, 200, list)["items"].empty());
  EXPECT_EQ(call("GET", "/v1/partners/northwind/disputes?state=resolved", tokens_.northwind, list)->status, 400);

  // The partner cannot resolve its own dispute: the lifecycle refuses, saying why.
  auto self = call("POST", path + "/acts", tokens_.northwind, acts, R"({"act": "accept", "comment": "fine by us"})");
  ASSERT_TRUE(self);
  EXPECT_EQ(self->status, 409);
  EXPECT_NE(self->body.find("brand"), std::string::npos) << self->body;
  // Only partners open disputes; admin and viewer read them but do not act.
  EXPECT_EQ(call("POST", "/v1/partners/northwind/disputes", tokens_.approver, list, dispute_body())->status, 403);
  EXPECT_EQ(call("POST", path + "/acts", tokens_.admin, acts, R"({"act": "accept", "comment": "ok"})")->status, 403);
  EXPECT_EQ(call("POST", path + "/acts", tokens_.viewer, acts, R"({"act": "reject", "comment": "no"})")->status, 403);
  EXPECT_EQ(get_json(path, tokens_.admin, 200, one)["state"], "open");

  // The approver accepts, as the brand, named by its token.
  auto accepted = call("POST", path + "/acts", tokens_.approver, acts, R"({"act": "accept", "comment": "the log agrees"})");
  ASSERT_TRUE(accepted);
  ASSERT_EQ(accepted->status, 201) << accepted->body;
  const auto a = json::parse(accepted->body);
  EXPECT_EQ(a["act"]["act"], "accept");
  EXPECT_EQ(a["act"]["party"], "brand");
  EXPECT_EQ(a["act"]["actor_name"], "approver");
  EXPECT_EQ(a["act"]["actor"].get<std::string>().rfind("tok_", 0), 0u) << a["act"]["actor"];
  EXPECT_EQ(a["dispute"]["state"], "accepted");
  // A second resolution is refused; a comment after it is not.
  auto twice = call("POST", path + "/acts", tokens_.finance, acts, R"({"act": "reject", "comment": "no"})");
  ASSERT_TRUE(twice);
  EXPECT_EQ(twice->status, 409);
  EXPECT_NE(twice->body.find("already accepted"), std::string::npos) << twice->body;
  EXPECT_EQ(call("POST", path + "/acts", tokens_.northwind, acts, R"({"act": "comment", "comment": "thanks"})")->status, 201);
  const auto now = get_json(path, tokens_.northwind, 200, one);
  EXPECT_EQ(now["state"], "accepted");
  EXPECT_EQ(now["thread"].size(), 3u);
  EXPECT_EQ(get_json("/v1/partners/northwind/disputes?state=accepted", tokens_.finance, 200, list)["items"].size(), 1u);
  // The money follows: the item leaves p1_first_reply, listed with the dispute that excluded it.
  const auto ev = get_json("/v1/partners/northwind/kpis/p1_first_reply/evidence?period=2026-10", tokens_.northwind, 200,
                           "/v1/partners/{partner}/kpis/{kpi}/evidence");
  ASSERT_EQ(ev["excluded"].size(), 1u) << ev.dump();
  EXPECT_EQ(ev["excluded"][0], (json{{"source", "import"}, {"id", "northwind-N2"}, {"by", "dispute " + id}}));
  for (const auto& item : ev["items"]) EXPECT_NE(item["id"], "northwind-N2") << "an excluded item is no evidence against the partner";

  // Each act was audited, and notified to the other party.
  std::multiset<std::string> audited, events;
  for (const auto& e : db_->audit().newest(200)) {
    if (e.action.starts_with("dispute.")) audited.insert(e.action);
  }
  for (const auto& e : db_->outbox().events(1000)) {
    if (e.type.starts_with("dispute.")) events.insert(e.type);
  }
  EXPECT_EQ(audited, (std::multiset<std::string>{"dispute.open", "dispute.accept", "dispute.comment"}));
  EXPECT_EQ(events, (std::multiset<std::string>{"dispute.opened", "dispute.resolved"}));

  // A correction (the brand's declaration, in the same store) is no dispute: not listed, not found.
  store::Dispute c;
  c.kind = core::DisputeKind::correction;
  c.subject = {"northwind", "northwind-support", 3, "2026-10", "", "", "", ""};
  c.category = core::DisputeCategory::brand_caused;
  c.opened_at = clock_.now();
  c.rules = {"p1_first_reply"};
  c.window_from = T("2026-10-14T11:00:00Z");
  c.window_until = T("2026-10-14T15:30:00Z");
  core::DisputeAction declare;
  declare.act = core::DisputeAct::open;
  declare.party = core::Party::brand;
  declare.actor = "cli:ops";
  declare.actor_name = "ops";
  declare.at = clock_.now();
  declare.comment = "brand platform outage";
  auto correction = db_->disputes().open(c, {declare}, ledger::audit_of({"cli:ops", "ops", "admin"}, clock_.now(), "correction.declare", "", ""));
  ASSERT_TRUE(correction) << correction.error();
  EXPECT_EQ(get_json("/v1/partners/northwind/disputes", tokens_.admin, 200, list)["items"].size(), 1u);
  EXPECT_EQ(call("GET", "/v1/disputes/" + std::to_string(correction->first.id), tokens_.admin, one)->status, 404);
  EXPECT_EQ(call("POST", "/v1/disputes/" + std::to_string(correction->first.id) + "/acts", tokens_.northwind, acts,
                 R"({"act": "accept", "comment": "ok"})")->status, 404);
}

TEST_P(ApiTest, DisputeRefusalsSayWhyAndMalformedBodiesNameTheField) {
  ASSERT_NO_FATAL_FAILURE(with_disputes());
  start();
  const std::string list = "/v1/partners/{partner}/disputes";
  auto expect = [&](const std::string& body, int status, const std::string& says) {
    auto r = call("POST", "/v1/partners/northwind/disputes", tokens_.northwind, list, body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << body << ": " << r->body;
    EXPECT_NE(json::parse(r->body).value("detail", "").find(says), std::string::npos) << body << ": " << r->body;
  };
  // Outside the contract's terms: 422 with open_dispute's reason, nothing stored.
  expect(dispute_body("customer_caused", "2026-09"), 422, "the dispute window of 2026-09 closed at");
  expect(dispute_body("force_majeure"), 422, "allows no disputes under 'force_majeure'");
  expect(dispute_body("customer_caused", "2026-10", R"({"source": "import", "kind": "tickets", "id": "contoso-C1"})"), 422,
         "no item import/tickets/contoso-C1 of partner 'northwind'");
  expect(R"({"contract": "contoso-resale", "version": 1, "period": "2026-10", "rule": "win_rate", "category": "customer_caused", "reason": "x"})",
         422, "no version 1 of contract 'contoso-resale' of partner 'northwind'");
  expect(R"({"contract": "northwind-support", "version": 3, "period": "2026-10", "rule": "p1_first_reply", "category": "customer_caused", "reason": " "})",
         422, "needs a reason");
  EXPECT_TRUE(db_->disputes().list().empty()) << "refusals store nothing";
  // Malformed: 400 naming the field.
  expect(dispute_body("bogus"), 400, "category: expected one of misattributed");
  expect(R"({"contract": "northwind-support", "version": "3", "period": "2026-10", "rule": "p1_first_reply", "category": "other", "reason": "x"})",
         400, "version:");
  expect(R"({"contract": "northwind-support", "version": 3, "period": "2026-10", "rule": "p1_first_reply", "category": "other"})", 400,
         "reason:");
  expect(R"({"version": 3, "period": "2026-10", "rule": "p1_first_reply", "category": "other", "reason": "x"})", 400, "contract:");
  expect(dispute_body("customer_caused", "2026-10", R"({"source": "import", "id": "northwind-N2"})"), 400, "item.kind:");
  expect(dispute_body("customer_caused", "2026-10", R"("northwind-N2")"), 400, "item:");
  expect(R"({"contract": "northwind-support", "version": 3, "priority": "high"})", 400, "unknown field 'priority'");
  expect("[1, 2]", 400, "not a JSON object");
  // The whole rule, and a category accepted in advance.
  auto whole = call("POST", "/v1/partners/northwind/disputes", tokens_.northwind, list,
                    R"({"contract": "northwind-support", "version": 3, "period": "2026-10", "rule": "p1_first_reply", "category": "customer_caused", "reason": "the queue was the brand's"})");
  ASSERT_TRUE(whole);
  ASSERT_EQ(whole->status, 201) << whole->body;
  EXPECT_TRUE(json::parse(whole->body)["item"].is_null());
  auto pre = call("POST", "/v1/partners/northwind/disputes", tokens_.northwind, list, dispute_body("brand_caused"));
  ASSERT_TRUE(pre);
  ASSERT_EQ(pre->status, 201) << pre->body;
  EXPECT_EQ(json::parse(pre->body)["state"], "accepted");
  // The same subject again while it stands: refused.
  expect(dispute_body("customer_caused"), 422, "already accepted");
  // Acts: unknown act or field 400, a withdrawal without its reason refused by the lifecycle.
  const std::string acts = "/v1/disputes/{id}/acts";
  const std::string id = std::to_string(json::parse(whole->body)["id"].get<std::int64_t>());
  EXPECT_EQ(call("POST", "/v1/disputes/" + id + "/acts", tokens_.northwind, acts, R"({"act": "escalate"})")->status, 400);
  EXPECT_EQ(call("POST", "/v1/disputes/" + id + "/acts", tokens_.northwind, acts, R"({"act": "open", "comment": "x"})")->status, 400);
  EXPECT_EQ(call("POST", "/v1/disputes/" + id + "/acts", tokens_.northwind, acts, R"({"act": "comment", "by": "x"})")->status, 400);
  auto brand_withdraws = call("POST", "/v1/disputes/" + id + "/acts", tokens_.finance, acts, R"({"act": "withdraw", "comment": "x"})");
  ASSERT_TRUE(brand_withdraws);
  EXPECT_EQ(brand_withdraws->status, 409);
  EXPECT_NE(brand_withdraws->body.find("only the partner withdraws"), std::string::npos) << brand_withdraws->body;
  EXPECT_EQ(call("POST", "/v1/disputes/" + id + "/acts", tokens_.northwind, acts, R"({"act": "reject", "comment": "x"})")->status, 409);
  EXPECT_EQ(call("POST", "/v1/disputes/" + id + "/acts", tokens_.northwind, acts, R"({"act": "withdraw", "comment": "resolved"})")->status, 201);
  EXPECT_EQ(call("POST", "/v1/disputes/" + id + "/acts", tokens_.northwind, acts, R"({"act": "withdraw", "comment": "again"})")->status, 409);
  EXPECT_EQ(get_json("/v1/disputes/" + id, tokens_.northwind, 200, "/v1/disputes/{id}")["state"], "withdrawn");
  EXPECT_EQ(call("GET", "/v1/disputes/abc", tokens_.northwind, "/v1/disputes/{id}")->status, 400);
}

// The brand declares a correction; only the partner answers it (its own: another partner's is not
// found); the brand cannot accept its own; a second resolution is refused; disputes and
// corrections are not found on each other's routes.
TEST_P(ApiTest, CorrectionsAreTheBrandsAndThePartnerAnswersThem) {
  ASSERT_NO_FATAL_FAILURE(with_disputes());
  start();
  const std::string list = "/v1/partners/{partner}/corrections", one = "/v1/corrections/{id}", acts = "/v1/corrections/{id}/acts";
  auto declared = call("POST", "/v1/partners/northwind/corrections", tokens_.approver, list, correction_body());
  ASSERT_TRUE(declared);
  ASSERT_EQ(declared->status, 201) << declared->body;
  const auto d = json::parse(declared->body);
  EXPECT_EQ(d["kind"], "correction");
  EXPECT_EQ(d["state"], "open");
  EXPECT_EQ(d["rules"], json({"p1_first_reply", "reopen_loops"}));
  EXPECT_EQ(d["window"]["from"], "2026-10-14T11:00:00Z");
  ASSERT_EQ(d["thread"].size(), 1u);
  EXPECT_EQ(d["thread"][0]["party"], "brand");
  EXPECT_EQ(d["thread"][0]["actor_name"], "approver");
  const std::string id = std::to_string(d["id"].get<std::int64_t>());
  const std::string path = "/v1/corrections/" + id;

  // Who declares: approver and finance; admin, viewer and partners do not.
  EXPECT_EQ(call("POST", "/v1/partners/northwind/corrections", tokens_.admin, list, correction_body())->status, 403);
  EXPECT_EQ(call("POST", "/v1/partners/northwind/corrections", tokens_.viewer, list, correction_body())->status, 403);
  EXPECT_EQ(call("POST", "/v1/partners/northwind/corrections", tokens_.northwind, list, correction_body())->status, 403);
  // Refusals (422, with declare_correction's reason) and malformed bodies (400, naming the field).
  auto expect = [&](const std::string& body, int status, const std::string& says) {
    auto r = call("POST", "/v1/partners/northwind/corrections", tokens_.finance, list, body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << body << ": " << r->body;
    EXPECT_NE(json::parse(r->body).value("detail", "").find(says), std::string::npos) << body << ": " << r->body;
  };
  expect(correction_body("force_majeure", R"(["p1_first_reply", "speed"])"), 422, "northwind-support v3 has no rule 'speed'");
  expect(correction_body("force_majeure", R"(["p1_first_reply"])", "2026-10-14T15:30:00Z"), 422, "the window is empty");
  expect(R"({"contract": "contoso-resale", "version": 1, "rules": ["win_rate"], "from": "2026-10-14T11:00:00Z", "until": "2026-10-14T15:30:00Z", "category": "other", "reason": "x"})",
         422, "no contract 'contoso-resale' of partner 'northwind'");
  expect(correction_body("force_majeure", R"("p1_first_reply")"), 400, "rules:");
  expect(correction_body("force_majeure", "[]"), 400, "rules:");
  expect(correction_body("force_majeure", R"(["p1_first_reply"])", "yesterday"), 400, "from:");
  expect(correction_body("weather"), 400, "category: expected one of misattributed");
  expect(R"({"contract": "northwind-support", "version": 3, "rules": ["p1_first_reply"], "from": "2026-10-14T11:00:00Z", "until": "2026-10-14T15:30:00Z", "category": "other"})",
         400, "reason:");
  expect(R"({"contract": "northwind-support", "version": 3, "priority": "high"})", 400, "unknown field 'priority'");
  EXPECT_EQ(db_->disputes().list().size(), 1u) << "refusals store nothing";

  // Another partner: the correction does not exist for it, exactly as one that does not exist.
  auto foreign = call("GET", path, tokens_.contoso, one);
  ASSERT_TRUE(foreign);
  EXPECT_EQ(foreign->status, 404);
  EXPECT_EQ(call("POST", path + "/acts", tokens_.contoso, acts, R"({"act": "accept", "comment": "ours?"})")->status, 404);
  EXPECT_EQ(call("GET", "/v1/partners/northwind/corrections", tokens_.contoso, list)->status, 404);
  EXPECT_TRUE(get_json("/v1/partners/contoso-eu/corrections", tokens_.contoso, 200, list)["items"].empty());
  // The partner's list and the brand's, by state; corrections are not disputes.
  EXPECT_EQ(get_json("/v1/partners/northwind/corrections", tokens_.northwind, 200, list)["items"].size(), 1u);
  EXPECT_EQ(get_json("/v1/partners/northwind/corrections?state=open", tokens_.viewer, 200, list)["items"].size(), 1u);
  EXPECT_TRUE(get_json("/v1/partners/northwind/corrections?state=accepted", tokens_.finance, 200, list)["items"].empty());
  EXPECT_EQ(call("GET", "/v1/partners/northwind/corrections?state=resolved", tokens_.northwind, list)->status, 400);
  EXPECT_TRUE(get_json("/v1/partners/northwind/disputes", tokens_.northwind, 200, "/v1/partners/{partner}/disputes")["items"].empty());
  EXPECT_EQ(call("GET", "/v1/disputes/" + id, tokens_.admin, "/v1/disputes/{id}")->status, 404);
  EXPECT_EQ(call("POST", "/v1/disputes/" + id + "/acts", tokens_.northwind, "/v1/disputes/{id}/acts", R"({"act": "comment", "comment": "x"})")->status,
            404);
  // ... and a dispute is no correction.
  auto opened = call("POST", "/v1/partners/northwind/disputes", tokens_.northwind, "/v1/partners/{partner}/disputes", dispute_body());
  ASSERT_TRUE(opened);
  ASSERT_EQ(opened->status, 201) << opened->body;
  const std::string dispute = std::to_string(json::parse(opened->body)["id"].get<std::int64_t>());
  EXPECT_EQ(call("GET", "/v1/corrections/" + dispute, tokens_.northwind, one)->status, 404);
  EXPECT_EQ(call("POST", "/v1/corrections/" + dispute + "/acts", tokens_.northwind, acts, R"({"act": "accept"})")->status, 404);
  EXPECT_EQ(get_json("/v1/partners/northwind/corrections", tokens_.admin, 200, list)["items"].size(), 1u);

  // The brand cannot accept its own correction: the lifecycle refuses, saying why.
  auto self = call("POST", path + "/acts", tokens_.approver, acts, R"({"act": "accept", "comment": "fine by us"})");
  ASSERT_TRUE(self);
  EXPECT_EQ(self->status, 409);
  EXPECT_NE(self->body.find("only the partner accepts or rejects a correction"), std::string::npos) << self->body;
  // Admin and viewer read but do not act; unknown acts and fields are malformed.
  EXPECT_EQ(call("POST", path + "/acts", tokens_.admin, acts, R"({"act": "withdraw", "comment": "x"})")->status, 403);
  EXPECT_EQ(call("POST", path + "/acts", tokens_.viewer, acts, R"({"act": "comment", "comment": "x"})")->status, 403);
  EXPECT_EQ(call("POST", path + "/acts", tokens_.northwind, acts, R"({"act": "escalate"})")->status, 400);
  EXPECT_EQ(call("POST", path + "/acts", tokens_.northwind, acts, R"({"act": "comment", "by": "x"})")->status, 400);
  EXPECT_EQ(call("POST", path + "/acts", tokens_.northwind, acts, R"({"act": "withdraw", "comment": "x"})")->status, 409);
  EXPECT_EQ(call("POST", path + "/acts", tokens_.finance, acts, R"({"act": "comment", "comment": "INC-7 has the timeline"})")->status, 201);

  // The partner accepts its own, as the partner, named by its token; the acceptance is recorded.
  auto accepted = call("POST", path + "/acts", tokens_.northwind, acts, R"({"act": "accept", "comment": "agreed"})");
  ASSERT_TRUE(accepted);
  ASSERT_EQ(accepted->status, 201) << accepted->body;
  const auto a = json::parse(accepted->body);
  EXPECT_EQ(a["act"]["act"], "accept");
  EXPECT_EQ(a["act"]["party"], "partner");
  EXPECT_EQ(a["act"]["actor"].get<std::string>().rfind("tok_", 0), 0u) << a["act"]["actor"];
  EXPECT_EQ(a["correction"]["state"], "accepted");
  EXPECT_EQ(get_json(path, tokens_.viewer, 200, one)["state"], "accepted");
  const auto stored = db_->disputes().acts_of(std::stoll(id));
  ASSERT_EQ(stored.size(), 3u);
  EXPECT_EQ(stored.back().act, core::DisputeAct::accept);
  EXPECT_EQ(stored.back().party, core::Party::partner);
  bool excluded = false;
  for (const auto& [x, at] : db_->disputes().accepted_all()) excluded = excluded || x.id == std::stoll(id);
  EXPECT_TRUE(excluded) << "an accepted correction is an exclusion";
  // A second resolution is refused, by either side; a comment after it is not.
  auto twice = call("POST", path + "/acts", tokens_.northwind, acts, R"({"act": "reject", "comment": "no"})");
  ASSERT_TRUE(twice);
  EXPECT_EQ(twice->status, 409);
  EXPECT_NE(twice->body.find("already accepted"), std::string::npos) << twice->body;
  EXPECT_EQ(call("POST", path + "/acts", tokens_.approver, acts, R"({"act": "withdraw", "comment": "late"})")->status, 409);
  EXPECT_EQ(call("POST", path + "/acts", tokens_.northwind, acts, R"({"act": "comment", "comment": "thanks"})")->status, 201);

  // A category the contract accepts in advance comes back accepted; the brand withdraws an open one.
  auto pre = call("POST", "/v1/partners/northwind/corrections", tokens_.finance, list, correction_body("brand_caused"));
  ASSERT_TRUE(pre);
  ASSERT_EQ(pre->status, 201) << pre->body;
  EXPECT_EQ(json::parse(pre->body)["state"], "accepted");
  auto other = call("POST", "/v1/partners/northwind/corrections", tokens_.finance, list, correction_body("data_error"));
  ASSERT_TRUE(other);
  ASSERT_EQ(other->status, 201) << other->body;
  const std::string other_id = std::to_string(json::parse(other->body)["id"].get<std::int64_t>());
  auto withdrawn = call("POST", "/v1/corrections/" + other_id + "/acts", tokens_.finance, acts, R"({"act": "withdraw", "comment": "wrong window"})");
  ASSERT_TRUE(withdrawn);
  ASSERT_EQ(withdrawn->status, 201) << withdrawn->body;
  EXPECT_EQ(json::parse(withdrawn->body)["correction"]["state"], "withdrawn");

  std::multiset<std::string> audited;
  for (const auto& e : db_->audit().newest(200)) {
    if (e.action.starts_with("correction.")) audited.insert(e.action);
  }
  EXPECT_EQ(audited, (std::multiset<std::string>{"correction.declare", "correction.declare", "correction.declare", "correction.comment",
                                                 "correction.accept", "correction.comment", "correction.withdraw"}));
}

// The portal: the partner disputes an evidence row through its form, the approver accepts it on
// the disputes page, and the partner's page shows it accepted.
TEST_P(ApiTest, APartnerDisputesAnEvidenceItemInThePortal) {
  ASSERT_NO_FATAL_FAILURE(with_disputes());
  start();
  auto c = client();
  const httplib::Headers partner{{"Cookie", "pw_session=" + tokens_.northwind}}, approver{{"Cookie", "pw_session=" + tokens_.approver}};
  auto evidence = c.Get("/portal/partners/northwind/evidence?rule=p1_first_reply&period=2026-10", partner);
  ASSERT_TRUE(evidence);
  ASSERT_EQ(evidence->status, 200);
  EXPECT_NE(evidence->body.find("action=\"/portal/partners/northwind/disputes\""), std::string::npos) << evidence->body;
  EXPECT_NE(evidence->body.find("<option value=\"customer_caused\">"), std::string::npos);
  EXPECT_EQ(evidence->body.find("<option value=\"force_majeure\">"), std::string::npos) << "only the version's categories";
  // The brand's users see no dispute form on evidence.
  auto brand_evidence = c.Get("/portal/partners/northwind/evidence?rule=p1_first_reply&period=2026-10", approver);
  ASSERT_TRUE(brand_evidence);
  EXPECT_EQ(brand_evidence->body.find("action=\"/portal/partners/northwind/disputes\""), std::string::npos);
  const std::string form = "csrf=" + csrf_for_test(tokens_.northwind) +
                           "&contract=northwind-support&version=3&period=2026-10&rule=p1_first_reply&source=import&kind=tickets"
                           "&id=northwind-N2&category=customer_caused&reason=" + httplib::detail::encode_query_param("<b>waited</b> on the customer");
  auto opened = c.Post("/portal/partners/northwind/disputes", partner, form, "application/x-www-form-urlencoded");
  ASSERT_TRUE(opened);
  ASSERT_EQ(opened->status, 303) << opened->body;
  auto mine = c.Get("/portal/disputes", partner);
  ASSERT_TRUE(mine);
  EXPECT_NE(mine->body.find("badge st-open"), std::string::npos) << mine->body;
  EXPECT_NE(mine->body.find("&lt;b&gt;waited&lt;/b&gt; on the customer"), std::string::npos);
  EXPECT_NE(mine->body.find("value=\"withdraw\""), std::string::npos);
  EXPECT_EQ(mine->body.find("value=\"accept\""), std::string::npos) << "the partner does not resolve";
  const auto id = db_->disputes().list("northwind").at(0).id;
  auto brand = c.Get("/portal/disputes", approver);
  ASSERT_TRUE(brand);
  EXPECT_NE(brand->body.find("value=\"accept\""), std::string::npos);
  auto accept = c.Post("/portal/disputes/" + std::to_string(id) + "/act", approver,
                       "csrf=" + csrf_for_test(tokens_.approver) + "&act=accept&comment=agreed", "application/x-www-form-urlencoded");
  ASSERT_TRUE(accept);
  EXPECT_EQ(accept->status, 303) << accept->body;
  auto again = c.Post("/portal/disputes/" + std::to_string(id) + "/act", approver,
                      "csrf=" + csrf_for_test(tokens_.approver) + "&act=reject&comment=no", "application/x-www-form-urlencoded");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 409);
  EXPECT_NE(again->body.find("already accepted"), std::string::npos);
  auto after = c.Get("/portal/disputes?state=accepted", partner);
  ASSERT_TRUE(after);
  EXPECT_NE(after->body.find("badge st-accepted"), std::string::npos) << after->body;
  // The evidence page now lists the item under "Excluded", with the dispute that excluded it.
  auto excluded = c.Get("/portal/partners/northwind/evidence?rule=p1_first_reply&period=2026-10", partner);
  ASSERT_TRUE(excluded);
  const auto at = excluded->body.find("<h2>Excluded</h2>");
  ASSERT_NE(at, std::string::npos) << excluded->body;
  EXPECT_NE(excluded->body.find("import / northwind-N2</td><td>dispute " + std::to_string(id) + "</td>", at), std::string::npos)
      << excluded->body;
  // Refused in the portal with the reason: the window of September has closed.
  std::string late = form;
  late.replace(late.find("period=2026-10"), 14, "period=2026-09");
  auto refused = c.Post("/portal/partners/northwind/disputes", partner, late, "application/x-www-form-urlencoded");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 422);
  EXPECT_NE(refused->body.find("the dispute window of 2026-09 closed at"), std::string::npos) << refused->body;
}

// The portal: the partner sees the brand's correction on its disputes page, escaped, with accept,
// reject and comment forms (CSRF in the body), and accepts it; the brand sees it with withdraw and
// comment forms; a second resolution is refused on the page; a correction is not acted on as a dispute.
TEST_P(ApiTest, APartnerAnswersACorrectionInThePortal) {
  ASSERT_NO_FATAL_FAILURE(with_disputes());
  start();
  auto declared = call("POST", "/v1/partners/northwind/corrections", tokens_.approver, "/v1/partners/{partner}/corrections",
                       R"({"contract": "northwind-support", "version": 3, "rules": ["p1_first_reply"], "from": "2026-10-14T11:00:00Z", )"
                       R"("until": "2026-10-14T15:30:00Z", "category": "force_majeure", "reason": "<script>alert(1)</script> outage"})");
  ASSERT_TRUE(declared);
  ASSERT_EQ(declared->status, 201) << declared->body;
  const std::string id = std::to_string(json::parse(declared->body)["id"].get<std::int64_t>());
  auto c = client();
  const httplib::Headers partner{{"Cookie", "pw_session=" + tokens_.northwind}}, approver{{"Cookie", "pw_session=" + tokens_.approver}},
      other{{"Cookie", "pw_session=" + tokens_.contoso}};
  auto mine = c.Get("/portal/disputes", partner);
  ASSERT_TRUE(mine);
  ASSERT_EQ(mine->status, 200);
  EXPECT_NE(mine->body.find("id=\"correction-" + id + "\""), std::string::npos) << mine->body;
  EXPECT_NE(mine->body.find("p1_first_reply"), std::string::npos);
  EXPECT_NE(mine->body.find("2026-10-14T11:00:00Z to 2026-10-14T15:30:00Z"), std::string::npos);
  EXPECT_NE(mine->body.find("&lt;script&gt;alert(1)&lt;/script&gt; outage"), std::string::npos) << "the reason is escaped";
  EXPECT_EQ(mine->body.find("<script>"), std::string::npos);
  const std::string action = "action=\"/portal/corrections/" + id + "/act\"";
  EXPECT_NE(mine->body.find(action), std::string::npos);
  EXPECT_NE(mine->body.find("value=\"accept\""), std::string::npos);
  EXPECT_NE(mine->body.find("value=\"reject\""), std::string::npos);
  EXPECT_EQ(mine->body.find("value=\"withdraw\""), std::string::npos) << "the partner does not withdraw the brand's correction";
  EXPECT_NE(mine->body.find("name=\"csrf\" value=\"" + csrf_for_test(tokens_.northwind) + "\""), std::string::npos);
  auto foreign = c.Get("/portal/disputes", other);
  ASSERT_TRUE(foreign);
  EXPECT_EQ(foreign->body.find("correction-" + id), std::string::npos) << "another partner sees nothing of it";
  auto brand = c.Get("/portal/disputes", approver);
  ASSERT_TRUE(brand);
  EXPECT_NE(brand->body.find(action), std::string::npos);
  EXPECT_NE(brand->body.find("value=\"withdraw\""), std::string::npos);
  EXPECT_EQ(brand->body.find("value=\"accept\""), std::string::npos) << "the brand does not accept its own correction";

  const std::string form = "csrf=" + csrf_for_test(tokens_.northwind);
  auto no_csrf = c.Post("/portal/corrections/" + id + "/act", partner, "act=accept&comment=ok", "application/x-www-form-urlencoded");
  ASSERT_TRUE(no_csrf);
  EXPECT_EQ(no_csrf->status, 403);
  auto as_dispute = c.Post("/portal/disputes/" + id + "/act", partner, form + "&act=accept&comment=ok", "application/x-www-form-urlencoded");
  ASSERT_TRUE(as_dispute);
  EXPECT_EQ(as_dispute->status, 404);
  auto accept = c.Post("/portal/corrections/" + id + "/act", partner, form + "&act=accept&comment=agreed", "application/x-www-form-urlencoded");
  ASSERT_TRUE(accept);
  EXPECT_EQ(accept->status, 303) << accept->body;
  EXPECT_EQ(accept->get_header_value("Location"), "/portal/disputes#correction-" + id);
  auto again = c.Post("/portal/corrections/" + id + "/act", partner, form + "&act=reject&comment=no", "application/x-www-form-urlencoded");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 409);
  EXPECT_NE(again->body.find("already accepted"), std::string::npos) << again->body;
  auto after = c.Get("/portal/disputes?state=accepted", partner);
  ASSERT_TRUE(after);
  EXPECT_NE(after->body.find("badge st-accepted"), std::string::npos) << after->body;
  EXPECT_EQ(db_->disputes().acts_of(std::stoll(id)).back().party, core::Party::partner);
}

TEST_P(ApiTest, EveryRecordedResponseMatchesTheOpenApiDocument) {
  testutils::TempDir dir;
  json routes = json::array();
  for (const auto& r : Api::routes()) {
    if (r.pattern.rfind("/v1/", 0) == 0) routes.push_back({{"method", r.method}, {"pattern", r.pattern}});
  }
  ASSERT_GT(recorded().size(), 50u) << "the API tests ran first and recorded their answers";
  std::ofstream(dir.path() / "responses.json") << json{{"routes", routes}, {"responses", recorded()}}.dump();
  auto py = testutils::run({"/usr/bin/python3", kSource + "/tests/integration/openapi_check.py", kSource + "/docs/openapi.yaml",
                            (dir.path() / "responses.json").string()});
  EXPECT_EQ(py.exit_code, 0) << py.out << py.err;
  std::cout << py.out;
}

INSTANTIATE_TEST_SUITE_P(Backends, ApiTest, ::testing::Values(Backend::sqlite, Backend::postgresql),
                         [](const auto& param_info) { return std::string(store::to_string(param_info.param)); });

}  // namespace
}  // namespace pactwatch::api
