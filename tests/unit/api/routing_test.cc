// The API's route table and its routing, in process and without a listener: path templates
// matched segment by segment ({event} spanning the segments an event id has), the method chosen
// (405 with Allow for a known path, HEAD as GET), and every /v1 route admitting exactly the roles
// the table gives it, a partner only for itself. integration_api checks the same table over HTTP
// with whole answers; this is the table alone, fast enough to run on every build.
#include <httplib.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "internal.h"  // daemon/api: split_path, match_route
#include "pactwatch/api/server.h"
#include "pactwatch/api/tokens.h"
#include "pactwatch/core/clock.h"
#include "pactwatch/core/metrics.h"
#include "pactwatch/rules/rule_set.h"
#include "temp_dir.h"

namespace pactwatch::api {
namespace {

core::Instant T(const char* s) { return *core::parse_rfc3339(s); }

using Segments = std::vector<std::string>;

TEST(SplitPath, DropsEmptySegments) {
  EXPECT_EQ(split_path("/v1/partners/x/kpis"), (Segments{"v1", "partners", "x", "kpis"}));
  EXPECT_EQ(split_path("//v1//partners/"), (Segments{"v1", "partners"}));
  EXPECT_EQ(split_path("/"), Segments{});
  EXPECT_EQ(split_path(""), Segments{});
}

TEST(MatchRoute, LiteralsMustMatchAndCapturesTakeOneSegment) {
  const auto tpl = split_path("/v1/partners/{partner}/kpis/{kpi}/evidence");
  std::map<std::string, std::string> params;
  ASSERT_TRUE(match_route(tpl, split_path("/v1/partners/northwind/kpis/p1/evidence"), params));
  EXPECT_EQ(params, (std::map<std::string, std::string>{{"partner", "northwind"}, {"kpi", "p1"}}));
  params = {{"left", "alone"}};
  EXPECT_FALSE(match_route(tpl, split_path("/v1/partners/northwind/kpis/p1/evidences"), params));
  EXPECT_FALSE(match_route(tpl, split_path("/v1/partners/northwind/kpis/p1"), params)) << "one segment short";
  EXPECT_FALSE(match_route(tpl, split_path("/v1/partners/northwind/kpis/p1/evidence/x"), params)) << "one segment over";
  EXPECT_EQ(params, (std::map<std::string, std::string>{{"left", "alone"}})) << "no match leaves the captures as they were";
}

TEST(MatchRoute, AnEventCaptureSpansTheSegmentsOfAnEventId) {
  const auto tpl = split_path("/v1/notifications/{event}/retry");
  std::map<std::string, std::string> params;
  ASSERT_TRUE(match_route(tpl, split_path("/v1/notifications/kpi.breached/support/3/2026-10/kpi:p1/1792458000000/retry"), params));
  EXPECT_EQ(params.at("event"), "kpi.breached/support/3/2026-10/kpi:p1/1792458000000");
  ASSERT_TRUE(match_route(tpl, split_path("/v1/notifications/one/retry"), params));
  EXPECT_EQ(params.at("event"), "one");
  EXPECT_FALSE(match_route(tpl, split_path("/v1/notifications/retry"), params)) << "an event id is never empty";
  EXPECT_FALSE(match_route(tpl, split_path("/v1/notifications/a/b/resend"), params));
}

TEST(RouteTable, EachRouteOnceWithKnownRolesAndAdminEverywhereInV1) {
  std::set<std::string> seen;
  for (const auto& r : Api::routes()) {
    const std::string key = r.method + " " + r.pattern;
    SCOPED_TRACE(key);
    EXPECT_TRUE(seen.insert(key).second) << "registered twice";
    EXPECT_TRUE(r.method == "GET" || r.method == "POST") << r.method;
    EXPECT_TRUE(r.pattern.starts_with("/v1/") || r.pattern.starts_with("/portal")) << r.pattern;
    EXPECT_FALSE(r.roles.empty());
    for (const auto& role : r.roles) EXPECT_TRUE(known_role(role) || role == "public") << role;
    if (r.pattern.starts_with("/v1/")) {
      EXPECT_NE(std::find(r.roles.begin(), r.roles.end(), "admin"), r.roles.end()) << "admin may call every API route";
    }
  }
}

TEST(RouteTable, WhatOnlyTheBrandMaySee) {
  std::map<std::string, std::vector<std::string>> roles;
  for (const auto& r : Api::routes()) roles[r.method + " " + r.pattern] = r.roles;
  EXPECT_EQ(roles.at("GET /v1/audit"), (std::vector<std::string>{"admin"}));
  EXPECT_EQ(roles.at("GET /v1/notifications"), (std::vector<std::string>{"admin"}));
  EXPECT_EQ(roles.at("POST /v1/notifications/{event}/retry"), (std::vector<std::string>{"admin"}));
  EXPECT_EQ(roles.at("GET /v1/compensation"), (std::vector<std::string>{"admin", "finance"}));
  EXPECT_EQ(roles.at("POST /v1/periods/{period}/close"), (std::vector<std::string>{"admin", "finance"}));
  EXPECT_EQ(roles.at("GET /v1/ledger/verify"), (std::vector<std::string>{"admin", "finance"}));
  EXPECT_EQ(roles.at("GET /v1/partners/{partner}/statements"), (std::vector<std::string>{"admin", "finance", "partner"}))
      << "a viewer sees standings, not money";
}

// Api::admit on a real SQLite store with one token per role: the decisions a request's head gets.
class Admission : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = rules::load_rule_set(std::string(PACTWATCH_SOURCE_DIR) + "/rules/examples");
    ASSERT_TRUE(r);
    rules_ = std::make_shared<const rules::RuleSet>(std::move(*r));
    auto s = store::Store::open({"sqlite://" + (dir_.path() / "api.db").string(), "", 1});
    ASSERT_TRUE(s) << s.error();
    db_ = std::move(*s);
    db_->migrate(clock_.now());
    for (const char* role : {"admin", "finance", "viewer"}) {
      auto t = issue_token(role, std::nullopt, role, std::nullopt, clock_.now());
      db_->tokens().create(t.record, 2, clock_.now());
      tokens_[role] = t.text;
    }
    auto p = issue_token("partner", std::string("northwind"), "northwind", std::nullopt, clock_.now());
    db_->tokens().create(p.record, 2, clock_.now());
    tokens_["partner"] = p.text;
    ApiOptions options;
    options.rate_per_second = 0;
    api_ = std::make_unique<Api>(*db_, [this] { return rules_; }, clock_, metrics_, options);
  }

  // Whether the head is admitted; the refusal's status in `status` (200 when admitted).
  bool admit(const std::string& method, const std::string& path, const std::string& role, int& status,
             std::string* allow = nullptr) {
    httplib::Request req;
    req.method = method;
    req.path = path;
    if (!role.empty()) req.headers.emplace("Authorization", "Bearer " + tokens_.at(role));
    httplib::Response res;
    const bool admitted = api_->admit(req, res);
    status = admitted ? 200 : res.status;
    if (allow) *allow = res.get_header_value("Allow");
    return admitted;
  }

  // A concrete path for a template: northwind for {partner}, an event id with slashes for {event}.
  static std::string fill(const std::string& pattern, const std::string& partner = "northwind") {
    const std::map<std::string, std::string> values{{"{partner}", partner},   {"{kpi}", "p1_first_reply"}, {"{contract}", "x"},
                                                    {"{version}", "1"},       {"{period}", "2026-10"},
                                                    {"{event}", "kpi.breached/support/3/2026-10/kpi:p1/1"}};
    std::string out;
    for (const auto& segment : split_path(pattern)) out += "/" + (values.contains(segment) ? values.at(segment) : segment);
    return out;
  }

  testutils::TempDir dir_;
  core::ManualClock clock_{T("2026-11-20T12:00:00Z")};
  std::shared_ptr<const rules::RuleSet> rules_;
  std::unique_ptr<store::Store> db_;
  std::map<std::string, std::string> tokens_;
  core::MetricsRegistry metrics_;  // before the API: it outlives it
  std::unique_ptr<Api> api_;
};

TEST_F(Admission, EveryRouteAdmitsExactlyItsRoles) {
  int routes = 0;
  for (const auto& r : Api::routes()) {
    if (!r.pattern.starts_with("/v1/")) continue;
    ++routes;
    for (const char* role : {"admin", "finance", "viewer", "partner"}) {
      SCOPED_TRACE(r.method + " " + r.pattern + " as " + role);
      const bool allowed = std::find(r.roles.begin(), r.roles.end(), role) != r.roles.end();
      int status = 0;
      EXPECT_EQ(admit(r.method, fill(r.pattern), role, status), allowed);
      EXPECT_EQ(status, allowed ? 200 : 403);
    }
  }
  EXPECT_GE(routes, 16);
}

TEST_F(Admission, APartnerIsAdmittedForItselfOnlyAndAnotherPartnerIsNotFound) {
  for (const auto& r : Api::routes()) {
    if (!r.pattern.starts_with("/v1/partners/{partner}")) continue;
    SCOPED_TRACE(r.method + " " + r.pattern);
    if (std::find(r.roles.begin(), r.roles.end(), "partner") == r.roles.end()) continue;
    int status = 0;
    EXPECT_TRUE(admit(r.method, fill(r.pattern, "northwind"), "partner", status));
    EXPECT_FALSE(admit(r.method, fill(r.pattern, "contoso-eu"), "partner", status));
    EXPECT_EQ(status, 404) << "exactly as for a partner that does not exist";
    EXPECT_FALSE(admit(r.method, fill(r.pattern, "nobody"), "admin", status));
    EXPECT_EQ(status, 404);
    EXPECT_TRUE(admit(r.method, fill(r.pattern, "contoso-eu"), "admin", status));
  }
}

TEST_F(Admission, TheMethodIsPartOfTheRoute) {
  int status = 0;
  std::string allow;
  EXPECT_FALSE(admit("DELETE", "/v1/partners", "admin", status, &allow));
  EXPECT_EQ(status, 405);
  EXPECT_EQ(allow, "GET");
  EXPECT_FALSE(admit("GET", "/v1/periods/2026-10/close", "admin", status, &allow));
  EXPECT_EQ(status, 405);
  EXPECT_EQ(allow, "POST");
  EXPECT_TRUE(admit("HEAD", "/v1/partners", "viewer", status)) << "HEAD is answered as GET";
  EXPECT_FALSE(admit("HEAD", "/v1/periods/2026-10/close", "admin", status));
  EXPECT_EQ(status, 405);
}

TEST_F(Admission, RoutingComesBeforeAuthentication) {
  int status = 0;
  EXPECT_FALSE(admit("GET", "/v1/nothing/here", "", status));
  EXPECT_EQ(status, 404) << "no such route, whoever asks";
  EXPECT_FALSE(admit("GET", "/v1/partners/northwind/kpis/extra/segments/here", "admin", status));
  EXPECT_EQ(status, 404);
  EXPECT_FALSE(admit("GET", "/v1/partners", "", status));
  EXPECT_EQ(status, 401) << "a route, but no token";
  EXPECT_FALSE(admit("POST", "/v1/notifications/kpi.breached/support/3/2026-10/kpi:p1/1/retry", "viewer", status));
  EXPECT_EQ(status, 403) << "the event id's slashes reach the route, and the role decides";
}

}  // namespace
}  // namespace pactwatch::api
