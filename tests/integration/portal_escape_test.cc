// The portal against markup in everything it shows: a partner's name, a contract id, a KPI's id
// and description (the rules parser allows only slugs for ids; these come in through a rule set
// built in memory, as a defence in depth), path segments and query parameters. Every page must
// show them as text: no tag, attribute or character reference of theirs reaches the HTML.
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <string>
#include <vector>

#include "pactwatch/api/http_server.h"
#include "pactwatch/api/server.h"
#include "pactwatch/api/tokens.h"
#include "pactwatch/app/evaluation_runner.h"
#include "pactwatch/core/clock.h"
#include "pactwatch/core/digest.h"
#include "pactwatch/sources/import.h"
#include "demo_data.h"
#include "temp_dir.h"

namespace pactwatch::api {
namespace {

const std::string kSource = PACTWATCH_SOURCE_DIR;
core::Instant T(const char* s) { return *core::parse_rfc3339(s); }

// Each names itself, so that a failure says which one got through.
const std::string kEvilName = "Fabrikam <script>alert('name')</script> & \"Sons\"";
const std::string kEvilContract = "fabrikam-field\"><img src=x onerror=alert('contract')>";
const std::string kEvilKpi = "fix<svg onload=alert('kpi')>";
const std::string kEvilDescription = "</td><script>alert('description')</script>";

// The pieces of markup the hostile values carry, and their quotes: none may appear in a page as
// they are (escaped, "onerror=alert" is only text).
const std::vector<std::string> kForbidden{"<script", "<img", "<svg onload", "\"><img", "\"Sons\"", "'name'", "'kpi'", "</td><script"};

std::string csrf_of(const std::string& token) { return core::sha256_hex("pactwatch-csrf:" + token).substr(0, 32); }

class PortalEscapes : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loaded = rules::load_rule_set(kSource + "/rules/examples");
    ASSERT_TRUE(loaded) << loaded.error()[0].to_string();
    rules::RuleSet set = std::move(*loaded);
    for (auto& p : set.partners) {
      if (p.id == "fabrikam-field") p.name = kEvilName;
    }
    for (auto& c : set.contracts) {
      if (c.partner != "fabrikam-field") continue;
      c.contract = kEvilContract;
      ASSERT_FALSE(c.kpis.empty());
      rules::Kpi copy = c.kpis.back();
      copy.id = kEvilKpi;
      copy.description = kEvilDescription;
      c.kpis.push_back(std::move(copy));
    }
    rules_ = std::make_shared<const rules::RuleSet>(std::move(set));
    auto s = store::Store::open({"sqlite://" + (dir_.path() / "portal.db").string(), "", 4});
    ASSERT_TRUE(s) << s.error();
    db_ = std::move(*s);
    db_->migrate(clock_.now());
    testutils::load_demo(*db_, *rules_, kSource, clock_.now());
    auto t = issue_token("admin", std::nullopt, "admin", std::nullopt, clock_.now());
    db_->tokens().create(t.record, 2, clock_.now());
    admin_ = t.text;
    ApiOptions options;
    options.rate_per_second = 0;
    api_ = std::make_unique<Api>(*db_, [this] { return rules_; }, clock_, metrics_, options);
    server_ = std::make_unique<HttpServer>(HttpOptions{}, metrics_);
    api_->mount(*server_);
    auto port = server_->listen("127.0.0.1", 0);
    ASSERT_TRUE(port) << port.error();
    port_ = *port;
  }

  void TearDown() override {
    if (server_) server_->stop();
  }

  // A page as the admin; GET, or POST with the form's CSRF token added.
  std::string page(const std::string& method, const std::string& path, const std::string& form = "") {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(30, 0);
    const httplib::Headers cookie{{"Cookie", "pw_session=" + admin_}};
    auto r = method == "GET" ? c.Get(path, cookie)
                             : c.Post(path, cookie, "csrf=" + csrf_of(admin_) + "&" + form, "application/x-www-form-urlencoded");
    EXPECT_TRUE(r) << path;
    if (!r) return "";
    EXPECT_LT(r->status, 500) << path << ": " << r->body;
    return r->body;
  }

  void expect_escaped(const std::string& body, const std::string& where) {
    for (const auto& bad : kForbidden) EXPECT_EQ(body.find(bad), std::string::npos) << where << " shows " << bad << ":\n" << body;
  }

  testutils::TempDir dir_;
  core::ManualClock clock_{T("2026-11-20T12:00:00Z")};
  std::shared_ptr<const rules::RuleSet> rules_;
  std::unique_ptr<store::Store> db_;
  std::string admin_;
  core::MetricsRegistry metrics_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
};

TEST_F(PortalEscapes, NamesIdsAndDescriptionsShowAsText) {
  const auto list = page("GET", "/portal/partners");
  expect_escaped(list, "the partner list");
  EXPECT_NE(list.find("Fabrikam &lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt; &amp; &quot;Sons&quot;"), std::string::npos) << list;
  EXPECT_NE(list.find("fabrikam-field&quot;&gt;&lt;img src=x onerror=alert(&#39;contract&#39;)&gt;"), std::string::npos) << list;

  for (const std::string period : {"2026-10", "2026-11"}) {
    const auto card = page("GET", "/portal/partners/fabrikam-field?period=" + period);
    expect_escaped(card, "the scorecard of " + period);
    EXPECT_NE(card.find("fix&lt;svg onload=alert(&#39;kpi&#39;)&gt;"), std::string::npos) << card;
    EXPECT_NE(card.find("&lt;/td&gt;&lt;script&gt;alert(&#39;description&#39;)&lt;/script&gt;"), std::string::npos) << card;
    EXPECT_NE(card.find("<svg class=\"trend\""), std::string::npos) << "the chart itself is still drawn";
    // The KPIs' targets are drawn as dashed lines (from the contract's typed objectives).
    EXPECT_NE(card.find("stroke-dasharray=\"4 3\""), std::string::npos) << "the target lines are drawn";
  }
  const auto evidence = page("GET", "/portal/partners/fabrikam-field/evidence?rule=fix%3Csvg%20onload%3Dalert('kpi')%3E&period=2026-10");
  expect_escaped(evidence, "the evidence of the hostile KPI");

  const auto what_if = page("POST", "/portal/partners/fabrikam-field/what-if",
                            "period=2026-10&v_fix%3Csvg%20onload%3Dalert('kpi')%3E=%3Cscript%3E&v_first_time_fix=90%25");
  expect_escaped(what_if, "the what-if page");

  const auto report = page("GET", "/portal/report?period=2026-10");
  expect_escaped(report, "the report");
}

// A dispute's reason and comments are the partner's own words: the disputes page shows them, and
// every part of the subject, as text.
TEST_F(PortalEscapes, DisputeReasonsAndThreadsShowAsText) {
  store::Dispute d;
  d.subject = {"fabrikam-field", kEvilContract, 1, "2026-10", kEvilKpi, "import", "tickets", "<img src=x onerror=alert('item')>"};
  d.category = core::DisputeCategory::other;
  d.opened_at = clock_.now();
  core::DisputeAction opening;
  opening.act = core::DisputeAct::open;
  opening.party = core::Party::partner;
  opening.actor = "tok_x";
  opening.actor_name = kEvilName;
  opening.at = clock_.now();
  opening.comment = "</td><script>alert('reason')</script> & \"more\"";
  store::AuditEntry audit;
  audit.at = clock_.now();
  audit.actor = "tok_x";
  audit.role = "partner";
  audit.action = "dispute.open";
  auto opened = db_->disputes().open(d, {opening}, audit);
  ASSERT_TRUE(opened) << opened.error();
  const auto body = page("GET", "/portal/disputes");
  expect_escaped(body, "the disputes page");
  EXPECT_NE(body.find("&lt;/td&gt;&lt;script&gt;alert(&#39;reason&#39;)&lt;/script&gt; &amp; &quot;more&quot;"), std::string::npos) << body;
  EXPECT_NE(body.find("&lt;img src=x onerror=alert(&#39;item&#39;)&gt;"), std::string::npos) << body;
  // A refused act echoes nothing raw either (the admin reads but does not act: 403).
  const auto refused = page("POST", "/portal/disputes/" + std::to_string(opened->first.id) + "/act",
                            "act=%3Cscript%3E&comment=%3Cscript%3Ealert('name')%3C%2Fscript%3E");
  expect_escaped(refused, "a refused act");
}

TEST_F(PortalEscapes, PathsAndQueryParametersShowAsText) {
  const std::string script = "%3Cscript%3Ealert('name')%3C%2Fscript%3E";
  struct Case {
    std::string method, path, form;
  };
  for (const auto& c : std::vector<Case>{
           {"GET", "/portal/partners/" + script, ""},
           {"GET", "/portal/partners/fabrikam-field?period=" + script, ""},
           {"GET", "/portal/partners/fabrikam-field/evidence?rule=" + script + "&period=" + script, ""},
           {"GET", "/portal/partners/fabrikam-field/evidence?rule=on_site_4h&period=2026-10&cursor=%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E", ""},
           {"GET", "/portal/report?period=" + script, ""},
           {"GET", "/portal/report.csv?period=" + script, ""},
           {"GET", "/portal/partners/fabrikam-field/statements/" + script + "/1/" + script + "/bundle", ""},
           {"POST", "/portal/partners/fabrikam-field/what-if", "period=" + script + "&v_" + script + "=" + script},
           {"POST", "/portal/close", "period=" + script + "&partner=" + script},
           {"POST", "/portal/close", "period=" + script + "&partner=fabrikam-field"},
       }) {
    const auto body = page(c.method, c.path, c.form);
    expect_escaped(body, c.method + " " + c.path + " " + c.form);
  }
  // The sign-in page's error and the method-not-allowed page echo nothing raw either.
  httplib::Client anonymous("127.0.0.1", port_);
  auto refused = anonymous.Post("/portal/login", {{"Cookie", "pw_login=x"}}, "csrf=x&token=%3Cscript%3E", "application/x-www-form-urlencoded");
  ASSERT_TRUE(refused);
  expect_escaped(refused->body, "the sign-in page");
  auto wrong = anonymous.Put("/portal/login", "<script>", "text/plain");
  ASSERT_TRUE(wrong);
  expect_escaped(wrong->body, "the method-not-allowed page");
}

}  // namespace
}  // namespace pactwatch::api
