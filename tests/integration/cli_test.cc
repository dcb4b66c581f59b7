// The executable as a user runs it: exit codes, messages, the store commands, and the daemon
// answering health checks over real HTTP on loopback and stopping cleanly on SIGTERM/SIGINT.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "pactwatch/core/clock.h"
#include "pactwatch/store/store.h"
#include "fake_http.h"
#include "pg_server.h"
#include "process.h"
#include "temp_dir.h"
#include "wait.h"
#include "work_log.h"

namespace pactwatch {
namespace {

using namespace std::chrono_literals;
using testutils::run;

const std::string kBinary = PACTWATCH_BINARY;

const char* kPartners = R"(partners:
  - id: northwind
    name: Northwind Support Ltd
    kind: outsourcer
  - id: contoso
    name: Contoso
    kind: reseller
)";

struct Daemon {
  testutils::TempDir dir;
  int port = testutils::free_port();
  std::filesystem::path config;

  explicit Daemon(const std::string& db_url = "", const std::string& extra = "") {
    dir.write("rules/partners.yaml", kPartners);
    const std::string url = db_url.empty() ? "sqlite://" + (dir.path() / "var/pactwatch.db").string() : db_url;
    config = dir.write("pactwatch.yaml", "listen: 127.0.0.1:" + std::to_string(port) + "\ndatabase:\n  url: " + url +
                                             "\nrules_dir: " + (dir.path() / "rules").string() + "\n" + extra);
  }

  // Polls /livez until it answers or the child dies.
  bool wait_live(testutils::Child& child) const {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(1);
    bool live = false;
    (void)testutils::eventually(
        [&] {
          if (auto r = c.Get("/livez"); r && r->status == 200) return live = true;
          return child.wait(0ms).has_value();
        },
        6s);
    return live;
  }
};

TEST(Cli, VersionAndHelp) {
  auto v = run({kBinary, "--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.out.find("0.1.0 (git "), std::string::npos) << v.out;
  auto h = run({kBinary, "--help"});
  EXPECT_EQ(h.exit_code, 0);
  for (const char* sub : {"serve", "check", "db", "config"}) EXPECT_NE(h.out.find(sub), std::string::npos) << sub;
}

TEST(Cli, UsageErrorsExitTwoWithUsageOnStderr) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {kBinary}, {kBinary, "frobnicate"}, {kBinary, "serve", "--bogus"}, {kBinary, "db"}, {kBinary, "db", "drop"},
           {kBinary, "--log-format", "xml", "check"}}) {
    auto r = run(args);
    EXPECT_EQ(r.exit_code, 2) << args.back();
    EXPECT_NE(r.err.find("Usage:"), std::string::npos) << args.back();
    EXPECT_TRUE(r.out.empty());
  }
}

// A mistyped command names the word and the nearest command, at whatever level it was typed.
TEST(Cli, AMistypedCommandSuggestsTheNearest) {
  auto top = run({kBinary, "evl"});
  EXPECT_EQ(top.exit_code, 2);
  EXPECT_NE(top.err.find("'evl' is not a command of pactwatch; did you mean 'pactwatch eval'?"), std::string::npos) << top.err;
  auto nested = run({kBinary, "--log-level", "warn", "dispute", "lst"});
  EXPECT_EQ(nested.exit_code, 2);
  EXPECT_NE(nested.err.find("did you mean 'pactwatch dispute list'?"), std::string::npos) << nested.err;
  EXPECT_NE(nested.err.find("Usage:"), std::string::npos) << nested.err;
  auto far = run({kBinary, "zzzzzzzz"});
  EXPECT_EQ(far.exit_code, 2);
  EXPECT_NE(far.err.find("'zzzzzzzz' is not a command of pactwatch (pactwatch --help lists them)"), std::string::npos) << far.err;
}

TEST(Cli, CheckListsEveryProblemAndExitsOne) {
  testutils::TempDir dir;
  auto bad = dir.write("bad.yaml", "listen: nowhere\nlog:\n  levle: debug\ndatabase:\n  pool_size: -1\n");
  auto r = run({kBinary, "check", "--config", bad.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(bad.string() + ":1:9: listen:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(bad.string() + ":3:3: log: unknown key 'levle' (did you mean 'level'?)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(bad.string() + ":5:14: database.pool_size:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("3 problem(s)"), std::string::npos) << r.err;
}

TEST(Cli, CheckValidatesRulesToo) {
  Daemon d;
  auto ok = run({kBinary, "check", "-c", d.config.string()});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("2 partner(s)"), std::string::npos);
  d.dir.write("rules/partners.yaml", "partners:\n  - {id: x, name: X, kind: wholesaler}\n");
  auto bad = run({kBinary, "check", "-c", d.config.string()});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("partners.yaml:2:28: partner 'x': unknown kind 'wholesaler'"), std::string::npos) << bad.err;
}

TEST(Cli, ConfigDefaultsPrintsTheTable) {
  auto r = run({kBinary, "config", "defaults"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("listen: 127.0.0.1:8080"), std::string::npos);
  EXPECT_NE(r.out.find("url: sqlite:///var/lib/pactwatch/pactwatch.db"), std::string::npos);
}

TEST(Cli, DbMigrateAndStatus) {
  Daemon d;
  auto before = run({kBinary, "db", "status", "-c", d.config.string()});
  EXPECT_EQ(before.exit_code, 0) << before.err;
  EXPECT_NE(before.out.find("migrations pending"), std::string::npos) << before.out;
  EXPECT_NE(before.out.find("0001  0001_initial  pending"), std::string::npos) << before.out;
  EXPECT_NE(before.out.find("0002  0002_evaluations  pending"), std::string::npos) << before.out;
  EXPECT_NE(before.out.find("0003  0003_statements  pending"), std::string::npos) << before.out;
  EXPECT_NE(before.out.find("0004  0004_outbox  pending"), std::string::npos) << before.out;
  EXPECT_NE(before.out.find("0005  0005_api  pending"), std::string::npos) << before.out;
  EXPECT_NE(before.out.find("0006  0006_leases  pending"), std::string::npos) << before.out;
  EXPECT_NE(before.out.find("0007  0007_cluster  pending"), std::string::npos) << before.out;
  EXPECT_NE(before.out.find("0008  0008_item_identity  pending"), std::string::npos) << before.out;
  EXPECT_NE(before.out.find("0009  0009_ledger_chain  pending"), std::string::npos) << before.out;
  EXPECT_NE(before.out.find("0010  0010_source_quarantine  pending"), std::string::npos) << before.out;
  EXPECT_NE(before.out.find("0011  0011_evaluation_intents  pending"), std::string::npos) << before.out;
  auto m = run({kBinary, "db", "migrate", "-c", d.config.string()});
  EXPECT_EQ(m.exit_code, 0) << m.err;
  // Every shipped migration, numbered by its file (numbers may have gaps).
  int files = 0, latest = 0;
  for (const auto& f : std::filesystem::directory_iterator(std::string(PACTWATCH_SOURCE_DIR) + "/daemon/store/schema/sqlite")) {
    ++files;
    latest = std::max(latest, std::stoi(f.path().filename().string().substr(0, 4)));
  }
  const std::string applied = "applied " + std::to_string(files) + " migration(s); schema version " + std::to_string(latest) +
                              " of " + std::to_string(latest);
  EXPECT_NE(m.out.find(applied), std::string::npos) << m.out;
  auto again = run({kBinary, "db", "migrate", "-c", d.config.string()});
  EXPECT_NE(again.out.find("applied 0 migration(s)"), std::string::npos) << again.out;
  auto after = run({kBinary, "db", "status", "-c", d.config.string()});
  EXPECT_NE(after.out.find("(up to date)"), std::string::npos) << after.out;
  EXPECT_NE(after.out.find("0001  0001_initial  applied 20"), std::string::npos) << after.out;
}

TEST(CalendarCli, AnswersEachQuestion) {
  const std::string cal = std::string(PACTWATCH_SOURCE_DIR) + "/rules/examples/calendars/eu-support.yaml";
  auto ask = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {kBinary, "calendar", cal});
    auto r = run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  };
  // Monday 2026-01-05, Paris (UTC+1): open 08:00Z-16:00Z.
  EXPECT_EQ(ask({"duration", "2026-01-05T08:00:00Z", "2026-01-05T17:00:00Z"}), "28800\n");
  EXPECT_EQ(ask({"duration", "2026-01-05T10:00:00+01:00", "2026-01-05T11:00:00+01:00"}), "3600\n");
  EXPECT_EQ(ask({"add", "2026-01-05T15:00:00Z", "3600"}), "2026-01-05T16:00:00Z\n");
  EXPECT_EQ(ask({"add", "2026-01-05T15:00:00Z", "1h1s"}), "2026-01-06T08:00:01Z\n");
  EXPECT_EQ(ask({"sub", "2026-01-06T08:00:00Z", "60"}), "2026-01-05T15:59:00Z\n");
  EXPECT_EQ(ask({"is-open", "2026-01-05T16:00:00Z"}), "closed\n");
  EXPECT_EQ(ask({"is-open", "2026-01-05T15:59:59Z"}), "open\n");
  EXPECT_EQ(ask({"next-open", "2026-01-03T10:00:00Z"}), "2026-01-05T08:00:00Z\n");
  EXPECT_EQ(ask({"periods", "2026-01-09T12:00:00Z", "2"}),
            "2026-01-09T08:00:00Z 2026-01-09T16:00:00Z\n2026-01-09T21:00:00Z 2026-01-10T05:00:00Z\n");
  EXPECT_EQ(ask({"periods", "2026-01-12T07:00:00Z", "1", "--before"}), "2026-01-09T21:00:00Z 2026-01-10T05:00:00Z\n");
  auto builtin = run({kBinary, "calendar", "24x7", "duration", "2026-03-29T00:00:00Z", "2026-03-30T00:00:00Z"});
  EXPECT_EQ(builtin.out, "86400\n");
}

TEST(CalendarCli, ClearErrors) {
  const std::string cal = std::string(PACTWATCH_SOURCE_DIR) + "/rules/examples/calendars/eu-support.yaml";
  auto bad_t = run({kBinary, "calendar", cal, "is-open", "2026-01-05 noon"});
  EXPECT_EQ(bad_t.exit_code, 1);
  EXPECT_NE(bad_t.err.find("is not an RFC 3339 date-time"), std::string::npos) << bad_t.err;
  auto bad_amount = run({kBinary, "calendar", cal, "add", "2026-01-05T10:00:00Z", "soon"});
  EXPECT_EQ(bad_amount.exit_code, 1);
  auto missing = run({kBinary, "calendar", "/nope.yaml", "is-open", "2026-01-05T10:00:00Z"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("/nope.yaml: cannot read the calendar file"), std::string::npos);
  testutils::TempDir dir;
  auto broken = dir.write("b.yaml", "timezone: Mars/Base\nhours: {mon: [\"25:00-26:00\"]}\n");
  auto r = run({kBinary, "calendar", broken.string(), "is-open", "2026-01-05T10:00:00Z"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(broken.string() + ":1:11: timezone: unknown time zone 'Mars/Base'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(broken.string() + ":2:15: hours.mon:"), std::string::npos) << r.err;
  auto usage = run({kBinary, "calendar", cal, "frob"});
  EXPECT_EQ(usage.exit_code, 2);
  auto out_of_range = run({kBinary, "calendar", cal, "add", "2037-12-31T10:00:00Z", "1000h"});
  EXPECT_EQ(out_of_range.exit_code, 1);
  EXPECT_NE(out_of_range.err.find("goes past the end"), std::string::npos) << out_of_range.err;
}

TEST(Cli, CheckValidatesCalendars) {
  Daemon d;
  d.dir.write("rules/calendars/desk.yaml", "timezone: Europe/Paris\nhours: {mon: [\"09:00-17:00\"]}\n");
  auto ok = run({kBinary, "check", "-c", d.config.string()});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("2 calendar(s)"), std::string::npos) << ok.out;  // desk and the built-in 24x7
  d.dir.write("rules/calendars/desk.yaml", "timezone: Europe/Paris\nhours: {mon: [\"09:00-17:00\", \"12:00-13:00\"]}\n");
  auto bad = run({kBinary, "check", "-c", d.config.string()});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("desk.yaml:2:30: hours.mon: interval overlaps another one on the same day"), std::string::npos)
      << bad.err;
}

TEST(Cli, CheckSummarizesEachContract) {
  const std::string rules = std::string(PACTWATCH_SOURCE_DIR) + "/rules/examples";
  // --rules alone: no config file is needed.
  auto r = run({kBinary, "check", "--rules", rules});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("4 partner(s), 3 calendar(s), 5 contract version(s)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("contoso-resale v1 (contoso-eu, 2026-01-01 to open end): draft, sha256 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("missing the partner approval"), std::string::npos);
  EXPECT_NE(r.out.find("northwind-support v3 (northwind, 2026-01-01 to 2026-12-31): approved in the file (not verified)"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("approvals: not checked against the store"), std::string::npos) << r.out;
  // A bad fixture: every problem, then the summary of what loaded, exit 1.
  const std::string bad = std::string(PACTWATCH_SOURCE_DIR) + "/tests/rules/bad/weights_not_100";
  auto b = run({kBinary, "check", "--rules", bad});
  EXPECT_EQ(b.exit_code, 1);
  EXPECT_NE(b.err.find("contracts/support.yaml:9:3: kpis: weights must add up to 100 (they add up to 90)"), std::string::npos)
      << b.err;
  EXPECT_NE(b.err.find("1 problem(s)"), std::string::npos);
}

TEST(Cli, ContractHashAndCanonicalForm) {
  const std::string file = std::string(PACTWATCH_SOURCE_DIR) + "/rules/examples/contracts/northwind-support-v3.yaml";
  auto h = run({kBinary, "contract", "hash", file});
  ASSERT_EQ(h.exit_code, 0) << h.err;
  ASSERT_EQ(h.out.size(), 65u);  // 64 hex digits and a newline
  // The approvals in the shipped file carry this very hash.
  EXPECT_NE(testutils::read_file(file).find("sha256: " + h.out.substr(0, 64)), std::string::npos);
  auto c = run({kBinary, "contract", "canonical", file});
  EXPECT_EQ(c.exit_code, 0);
  EXPECT_EQ(c.out.find("approvals"), std::string::npos);
  EXPECT_EQ(c.out.rfind("{\"brand_standards\":", 0), 0u) << c.out.substr(0, 40);
  testutils::TempDir dir;
  auto broken = dir.write("c.yaml", "contract: [\n");
  auto e = run({kBinary, "contract", "hash", broken.string()});
  EXPECT_EQ(e.exit_code, 1);
  EXPECT_NE(e.err.find(broken.string() + ":"), std::string::npos);
  EXPECT_EQ(run({kBinary, "contract", "hash", "/nope.yaml"}).exit_code, 1);
}

TEST(Cli, ImportThenEvaluate) {
  Daemon d;
  const std::string rules = std::string(PACTWATCH_SOURCE_DIR) + "/rules/examples";
  const std::string db = "sqlite://" + (d.dir.path() / "var/eval.db").string();
  // A bad line rejects the whole file ...
  auto bad = d.dir.write("bad.ndjson",
                         "{\"id\": 1, \"partner\": \"northwind\", \"priority\": \"urgent\", \"created_at\": \"2026-10-05T08:00:00Z\", \"agent_replies\": [\"2026-10-05T08:30:00Z\"]}\n"
                         "{\"id\": 2, \"created_at\": \"not a time\"}\n");
  auto rejected = run({kBinary, "import", "tickets", bad.string(), "--rules", rules, "--db", db});
  EXPECT_EQ(rejected.exit_code, 1);
  EXPECT_NE(rejected.err.find(bad.string() + ":2: created_at:"), std::string::npos) << rejected.err;
  EXPECT_NE(rejected.err.find("nothing imported"), std::string::npos);
  // ... unless --skip-bad, which imports the rest and lists what it skipped.
  auto skipped = run({kBinary, "import", "tickets", bad.string(), "--rules", rules, "--db", db, "--skip-bad"});
  EXPECT_EQ(skipped.exit_code, 0) << skipped.err;
  EXPECT_NE(skipped.out.find("imported 1 tickets"), std::string::npos) << skipped.out;
  auto csv = d.dir.write("more.csv",
                         "id,account,priority,created_at,agent_replies\n"
                         "2,509974,urgent,2026-10-05T14:30:00Z,2026-10-06T07:45:00Z\n"
                         "3,1,urgent,2026-10-05T14:30:00Z,\n");
  auto imported = run({kBinary, "import", "tickets", csv.string(), "--source", "zendesk", "--rules", rules, "--db", db});
  EXPECT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_NE(imported.out.find("1 attributed to a partner, 1 unattributed"), std::string::npos) << imported.out;
  // Re-importing the same file writes nothing.
  auto again = run({kBinary, "import", "tickets", csv.string(), "--source", "zendesk", "--rules", rules, "--db", db});
  EXPECT_NE(again.out.find("0 written, 2 unchanged"), std::string::npos) << again.out;

  auto ev = run({kBinary, "eval", "--rules", rules, "--db", db, "--partner", "northwind", "--period", "2026-10",
                 "--as-of", "2026-11-02T00:00:00Z", "--format", "json"});
  ASSERT_EQ(ev.exit_code, 0) << ev.err;
  auto doc = nlohmann::json::parse(ev.out);
  ASSERT_EQ(doc["evaluations"].size(), 1u);
  const auto& e = doc["evaluations"][0];
  EXPECT_EQ(e["contract"]["id"], "northwind-support");
  EXPECT_EQ(e["contract"]["version"], 3);
  EXPECT_EQ(e["kpis"][0]["id"], "p1_first_reply");
  EXPECT_EQ(e["kpis"][0]["numerator"], 1);
  EXPECT_EQ(e["kpis"][0]["denominator"], 2);
  EXPECT_EQ(e["kpis"][0]["evidence"][0]["id"], "2");
  // Same inputs, same bytes.
  auto ev2 = run({kBinary, "eval", "--rules", rules, "--db", db, "--partner", "northwind", "--period", "2026-10",
                  "--as-of", "2026-11-02T00:00:00Z", "--format", "json"});
  EXPECT_EQ(ev2.out, ev.out);
  auto table = run({kBinary, "eval", "--rules", rules, "--db", db, "--partner", "northwind", "--period", "2026-10",
                    "--as-of", "2026-11-02T00:00:00Z"});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_NE(table.out.find("p1_first_reply             50.00%"), std::string::npos) << table.out;
  EXPECT_EQ(run({kBinary, "eval", "--rules", rules, "--db", db, "--partner", "nobody"}).exit_code, 1);
  // --save stores the result and reports status changes: every rule the first time, none the second.
  auto saved = run({kBinary, "eval", "--rules", rules, "--db", db, "--partner", "northwind", "--period", "2026-10",
                    "--as-of", "2026-11-02T00:00:00Z", "--save"});
  EXPECT_EQ(saved.exit_code, 0) << saved.err;
  EXPECT_NE(saved.err.find("status: northwind-support v3 2026-10 kpi:p1_first_reply: (new) -> insufficient_data"),
            std::string::npos) << saved.err;
  auto resaved = run({kBinary, "eval", "--rules", rules, "--db", db, "--partner", "northwind", "--period", "2026-10",
                      "--as-of", "2026-11-02T00:00:00Z", "--save"});
  EXPECT_EQ(resaved.err.find("status:"), std::string::npos) << resaved.err;
  auto s = store::Store::open({db, "", 1});
  ASSERT_TRUE(s);
  EXPECT_TRUE((*s)->evaluations().document("northwind-support", 3, "2026-10").has_value());
  // import --evaluate re-evaluates what the new items affect.
  auto more = d.dir.write("late.ndjson",
                          "{\"id\": 9, \"partner\": \"northwind\", \"priority\": \"urgent\", \"created_at\": \"2026-10-07T08:00:00Z\", \"agent_replies\": [\"2026-10-07T08:10:00Z\"]}\n");
  auto late = run({kBinary, "import", "tickets", more.string(), "--rules", rules, "--db", db, "--evaluate"});
  EXPECT_EQ(late.exit_code, 0) << late.err;
  EXPECT_NE(late.out.find("re-evaluated 1 contract period(s)"), std::string::npos) << late.out;
  EXPECT_EQ(run({kBinary, "eval", "--rules", rules, "--db", db, "--as-of", "tomorrow"}).exit_code, 1);
}

// A contract that pays: a fee, a bonus when the one KPI is met, a credit when it is breached.
const char* kPayingContract = R"(contract: CONTRACT
version: 1
partner: PARTNER
effective: {from: 2026-09-01}
currency: EUR
calendar: always
kpis:
  - {id: p1, source: tickets, measure: {ratio: first_reply <= 1h}, objective: {target: ">= 90%"}, min_sample: 1, weight: 100}
compensation:
  base: {fixed: "1000.00"}
  bonus:
    tiers:
      - {at: ">= 100%", pays: "200.00"}
  service_credits:
    at_risk: 10%
    allocations: {p1: 100%}
)";

std::string ticket_line(const std::string& id, const std::string& partner, const std::string& created, const std::string& reply) {
  return "{\"id\": \"" + id + "\", \"partner\": \"" + partner + "\", \"created_at\": \"" + created +
         "\", \"agent_replies\": [\"" + reply + "\"]}\n";
}

TEST(Cli, StatementsCloseAdjustAndWhatIf) {
  testutils::TempDir dir;
  dir.write("rules/partners.yaml", "partners:\n  - {id: acme, name: Acme, kind: outsourcer}\n  - {id: beta, name: Beta, kind: reseller}\n");
  dir.write("rules/calendars/always.yaml", "timezone: UTC\nhours: {mon: [\"00:00-24:00\"], tue: [\"00:00-24:00\"], "
                                           "wed: [\"00:00-24:00\"], thu: [\"00:00-24:00\"], fri: [\"00:00-24:00\"], "
                                           "sat: [\"00:00-24:00\"], sun: [\"00:00-24:00\"]}\n");
  auto contract_text = [](const std::string& id, const std::string& partner) {
    std::string t = kPayingContract;
    t.replace(t.find("CONTRACT"), 8, id);
    t.replace(t.find("PARTNER"), 7, partner);
    return t;
  };
  // Acme's contract is approved by both sides; Beta's is a draft.
  auto acme = dir.write("rules/contracts/acme.yaml", contract_text("acme-desk", "acme"));
  const auto hash = run({kBinary, "contract", "hash", acme.string()}).out.substr(0, 64);
  dir.write("rules/contracts/acme.yaml", contract_text("acme-desk", "acme") +
                                             "approvals:\n  - {party: brand, by: b@brand.example, at: 2026-08-01T00:00:00Z, sha256: " + hash +
                                             "}\n  - {party: partner, by: p@acme.example, at: 2026-08-02T00:00:00Z, sha256: " + hash + "}\n");
  dir.write("rules/contracts/beta.yaml", contract_text("beta-resale", "beta"));
  const std::string rules = (dir.path() / "rules").string();
  const std::string db = "sqlite://" + (dir.path() / "pay.db").string();
  auto items = dir.write("t.ndjson", ticket_line("s1", "acme", "2026-09-10T08:00:00Z", "2026-09-10T08:30:00Z") +
                                         ticket_line("o1", "acme", "2026-10-05T08:00:00Z", "2026-10-05T08:30:00Z") +
                                         ticket_line("b1", "beta", "2026-09-10T08:00:00Z", "2026-09-10T08:30:00Z"));
  ASSERT_EQ(run({kBinary, "import", "tickets", items.string(), "--rules", rules, "--db", db}).exit_code, 0);
  auto cli = [&](std::vector<std::string> args) {
    std::vector<std::string> all{kBinary};
    all.insert(all.end(), args.begin(), args.end());
    all.insert(all.end(), {"--rules", rules, "--db", db});
    return run(all);
  };
  // The file's approvals enforce nothing until recorded: adopted once, vouched for.
  auto before = cli({"report", "compensation", "--period", "2026-09", "--as-of", "2026-10-15T00:00:00Z", "--format", "csv"});
  ASSERT_EQ(before.exit_code, 0) << before.err;
  EXPECT_EQ(before.out.find(",open,"), std::string::npos) << "a file approval enforced something:\n" << before.out;
  auto adopt = cli({"contract", "adopt", "--all", "--vouched-by", "legal@brand.example"});
  ASSERT_EQ(adopt.exit_code, 0) << adopt.err;
  EXPECT_NE(adopt.out.find("acme-desk v1: recorded brand propose brand approve partner approve (vouched for by legal@brand.example)"),
            std::string::npos) << adopt.out;

  // An open period: fee plus bonus; the draft is a preview, left out of the totals.
  auto csv = cli({"report", "compensation", "--period", "2026-09", "--as-of", "2026-10-15T00:00:00Z", "--format", "csv"});
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_NE(csv.out.find("partner,contract,version,currency,base,bonus,gates,credits,earn_backs,reciprocity,clawbacks,"
                         "adjustments,cap_floor,carry_forward,total,status,partner_name,contract_description\r\n"),
            std::string::npos) << csv.out;
  EXPECT_NE(csv.out.find("acme,acme-desk,1,EUR,1000.00,200.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,1200.00,open,Acme,\r\n"),
            std::string::npos) << csv.out;
  EXPECT_NE(csv.out.find("beta,beta-resale,1,EUR,1000.00,200.00"), std::string::npos) << csv.out;
  EXPECT_NE(csv.out.find(",preview,Beta,\r\n"), std::string::npos) << csv.out;
  EXPECT_NE(csv.out.find("TOTAL,,,EUR,,,,,,,,,,,1200.00,,,\r\n"), std::string::npos) << csv.out;

  // A close as of an instant that has not come yet is refused (it would close a period before it
  // ends); the clock is the machine's, so the instant is far ahead.
  auto ahead = cli({"period", "close", "2099-12", "--as-of", "2100-01-02T00:00:00Z"});
  EXPECT_EQ(ahead.exit_code, 1);
  EXPECT_NE(ahead.err.find("as of 2100-01-02T00:00:00Z is later than now"), std::string::npos) << ahead.err;
  // A period that has not ended cannot close; one that has, closes once and then verifies.
  auto early = cli({"period", "close", "2026-10", "--as-of", "2026-10-15T00:00:00Z"});
  EXPECT_EQ(early.exit_code, 1);
  EXPECT_NE(early.err.find("2026-10 has not ended"), std::string::npos) << early.err;
  auto closed = cli({"period", "close", "2026-09", "--as-of", "2026-10-15T00:00:00Z", "--by", "finance@brand.example"});
  ASSERT_EQ(closed.exit_code, 0) << closed.err;
  EXPECT_NE(closed.out.find("acme  acme-desk v1  2026-09: closed, total 1200.00"), std::string::npos) << closed.out;
  EXPECT_NE(closed.out.find("beta  beta-resale v1  2026-09: not closed: a draft"), std::string::npos) << closed.out;
  auto again = cli({"period", "close", "2026-09", "--as-of", "2026-10-20T00:00:00Z"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("recomputed bit for bit"), std::string::npos) << again.out;
  auto report = cli({"report", "compensation", "--period", "2026-09", "--partner", "acme", "--format", "json"});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  auto rj = nlohmann::json::parse(report.out);
  EXPECT_EQ(rj["statements"][0]["status"], "closed");
  EXPECT_EQ(rj["statements"][0]["statement"]["as_of"], "2026-10-15T00:00:00Z");

  // Late data for September: a slow reply breaks the KPI. The closed statement stays; October
  // carries the difference (fee 1000 - credit 100 = 900, was 1200) as an adjustment.
  auto late = dir.write("late.ndjson", ticket_line("s2", "acme", "2026-09-20T08:00:00Z", "2026-09-20T11:00:00Z"));
  ASSERT_EQ(run({kBinary, "import", "tickets", late.string(), "--rules", rules, "--db", db}).exit_code, 0);
  auto oct = cli({"report", "compensation", "--period", "2026-10", "--partner", "acme", "--as-of", "2026-11-02T00:00:00Z",
                  "--format", "json"});
  ASSERT_EQ(oct.exit_code, 0) << oct.err;
  auto oj = nlohmann::json::parse(oct.out);
  const auto& row = oj["statements"][0];
  EXPECT_EQ(row["adjustments"], "-300.00") << row.dump(2);
  EXPECT_EQ(row["total"], "900.00");
  EXPECT_EQ(oj["totals"]["EUR"], "900.00");
  const auto& adj = row["statement"]["lines"].back();
  EXPECT_EQ(adj["kind"], "adjustment");
  EXPECT_EQ(adj["derivation"]["closed_period"], "2026-09");
  // The closed September statement is untouched.
  EXPECT_NE(cli({"report", "compensation", "--period", "2026-09", "--partner", "acme", "--format", "csv"}).out.find("1200.00,closed"),
            std::string::npos);
  auto differs = cli({"period", "close", "2026-09"});
  EXPECT_NE(differs.out.find("recomputed now it totals 900.00 (closed: 1200.00); its input changed"), std::string::npos)
      << differs.out;

  // Periods close in order once one is closed.
  auto skip = cli({"period", "close", "2026-11", "--as-of", "2026-12-01T00:00:00Z"});
  EXPECT_EQ(skip.exit_code, 1);
  EXPECT_NE(skip.err.find("close 2026-10 first"), std::string::npos) << skip.err;

  // The ledger verifies: September's input changed since its close (late data), not a break.
  auto verified = cli({"ledger", "verify"});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  // The one audit entry is the adoption of the file's approvals.
  EXPECT_NE(verified.out.find("verified 1 statement(s) of 1 contract(s) and 1 audit entry;"), std::string::npos) << verified.out;
  EXPECT_NE(verified.out.find("inputs changed since the close (not a break): statement acme-desk v1 2026-09"), std::string::npos)
      << verified.out;
  // September's bundle checks with nothing but the file: no config, no database, no rules.
  auto bundle = cli({"ledger", "bundle", "acme-desk", "1", "2026-09"});
  ASSERT_EQ(bundle.exit_code, 0) << bundle.err;
  const auto file = dir.write("elsewhere/statement.json", bundle.out);
  auto offline = run({kBinary, "ledger", "verify", "--bundle", file.string(), "--config", (dir.path() / "nothing.yaml").string()});
  EXPECT_EQ(offline.exit_code, 0) << offline.out << offline.err;
  EXPECT_NE(offline.out.find("bundle verified: acme-desk v1 2026-09 of acme, total 1200.00 EUR"), std::string::npos) << offline.out;
  std::string changed = bundle.out;
  changed.replace(changed.find("1200.00"), 7, "1290.00");
  auto forged = run({kBinary, "ledger", "verify", "--bundle", dir.write("elsewhere/forged.json", changed).string()});
  EXPECT_EQ(forged.exit_code, 1);
  EXPECT_NE(forged.out.find("bundle NOT verified"), std::string::npos) << forged.out;

  // What-if: October with the KPI at 50 % loses the bonus and takes the credit.
  auto wi = cli({"what-if", "--partner", "acme", "--period", "2026-10", "--set", "p1=50%", "--as-of", "2026-11-02T00:00:00Z"});
  ASSERT_EQ(wi.exit_code, 0) << wi.err;
  EXPECT_NE(wi.out.find("600.00  total EUR"), std::string::npos) << wi.out;
  EXPECT_NE(wi.out.find("(actual total as of 2026-11-02T00:00:00Z: 900.00)"), std::string::npos) << wi.out;
  auto bad_set = cli({"what-if", "--partner", "acme", "--period", "2026-10", "--set", "nps=50%"});
  EXPECT_EQ(bad_set.exit_code, 1);
  EXPECT_NE(bad_set.err.find("no KPI 'nps'"), std::string::npos) << bad_set.err;
  EXPECT_EQ(cli({"what-if", "--partner", "acme", "--period", "2026-10", "--set", "p1"}).exit_code, 2);
}

// The shipped examples in a fresh store: a config beside them, so check and contract have a store.
struct ExamplesWorld {
  testutils::TempDir dir;
  int port = testutils::free_port();
  std::filesystem::path config;
  ExamplesWorld() {
    std::filesystem::copy(std::string(PACTWATCH_SOURCE_DIR) + "/rules/examples", dir.path() / "rules",
                          std::filesystem::copy_options::recursive);
    config = dir.write("pactwatch.yaml", "listen: 127.0.0.1:" + std::to_string(port) + "\ndatabase:\n  url: sqlite://" +
                                             (dir.path() / "var/p.db").string() + "\nrules_dir: " + (dir.path() / "rules").string() +
                                             "\n");
  }
  testutils::ProcessResult cli(std::vector<std::string> args) const {
    std::vector<std::string> all{kBinary};
    all.insert(all.end(), args.begin(), args.end());
    all.insert(all.end(), {"-c", config.string()});
    return run(all);
  }
};

TEST(Cli, ContractLifecycleFromProposalToEnforcementWithItsRefusals) {
  ExamplesWorld w;
  ASSERT_EQ(w.cli({"db", "migrate"}).exit_code, 0);
  // With a store, check says the file's approvals are unverified and enforce nothing.
  auto check = w.cli({"check"});
  ASSERT_EQ(check.exit_code, 0) << check.err;
  EXPECT_NE(check.out.find("fabrikam-field v1 (fabrikam-field, 2026-01-01 to 2026-12-31): draft"), std::string::npos) << check.out;
  EXPECT_NE(check.out.find("unverified: the partner approval by "), std::string::npos) << check.out;

  const std::string hash = run({kBinary, "contract", "hash", (w.dir.path() / "rules/contracts/fabrikam-field-v1.yaml").string()})
                               .out.substr(0, 64);
  auto early = w.cli({"contract", "approve", "fabrikam-field", "1", "--sha256", hash});
  EXPECT_EQ(early.exit_code, 1);
  EXPECT_NE(early.err.find("has not been proposed; nothing recorded"), std::string::npos) << early.err;
  auto propose = w.cli({"contract", "propose", "fabrikam-field", "1", "--by", "ops@brand.example", "--comment", "for Q1"});
  ASSERT_EQ(propose.exit_code, 0) << propose.err;
  EXPECT_NE(propose.out.find("fabrikam-field v1: propose recorded (#1); now proposed"), std::string::npos) << propose.out;
  auto stale = w.cli({"contract", "approve", "fabrikam-field", "1", "--sha256", std::string(64, 'a')});
  EXPECT_EQ(stale.exit_code, 1);
  EXPECT_NE(stale.err.find("stale approval"), std::string::npos) << stale.err;
  auto approve = w.cli({"contract", "approve", "fabrikam-field", "1", "--sha256", hash, "--by", "cfo@brand.example"});
  ASSERT_EQ(approve.exit_code, 0) << approve.err;
  EXPECT_NE(approve.out.find("now approved_by_brand"), std::string::npos) << approve.out;
  EXPECT_EQ(w.cli({"contract", "reject", "fabrikam-field", "1"}).exit_code, 2) << "a rejection needs its reason";
  auto unknown = w.cli({"contract", "propose", "fabrikam-feld", "1"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("did you mean 'fabrikam-field'"), std::string::npos) << unknown.err;

  auto status = w.cli({"contract", "status", "fabrikam-field", "--format", "json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  const auto j = nlohmann::json::parse(status.out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["state"], "approved_by_brand");
  EXPECT_EQ(j[0]["enforced"], false);
  ASSERT_EQ(j[0]["acts"].size(), 2u);  // the refusals recorded nothing
  EXPECT_EQ(j[0]["acts"][1]["actor_name"], "cfo@brand.example");
  EXPECT_EQ(j[0]["acts"][0]["comment"], "for Q1");
  // The file's brand approval of this content is now backed; the partner's is not.
  ASSERT_EQ(j[0]["unverified_file_approvals"].size(), 1u);
  EXPECT_EQ(j[0]["unverified_file_approvals"][0]["party"], "partner");

  // The rest adopted once; a version acted on already goes the recorded way, never adopted.
  auto adopt = w.cli({"contract", "adopt", "--all", "--vouched-by", "legal@brand.example"});
  ASSERT_EQ(adopt.exit_code, 0) << adopt.err;
  EXPECT_NE(adopt.out.find("skipped fabrikam-field v1 has recorded acts already (approved_by_brand)"), std::string::npos)
      << adopt.out;
  EXPECT_NE(adopt.out.find("northwind-support v3: recorded brand propose brand approve partner approve (vouched for by "
                           "legal@brand.example)"),
            std::string::npos) << adopt.out;
  EXPECT_NE(adopt.out.find("skipped contoso-resale v1: its approvals block does not carry both parties' approvals"),
            std::string::npos) << adopt.out;
  auto named = w.cli({"contract", "adopt", "contoso-resale", "1", "--vouched-by", "legal@brand.example"});
  EXPECT_EQ(named.exit_code, 1) << "named, a file without the partner's approval is an error";
  EXPECT_NE(named.err.find("does not carry both parties' approvals"), std::string::npos) << named.err;
  auto text = w.cli({"contract", "status"});
  EXPECT_NE(text.out.find("fabrikam-field v1 (fabrikam-field): approved_by_brand — proposed; approved by cfo@brand.example "
                          "(brand), awaiting the partner"),
            std::string::npos) << text.out;
  EXPECT_NE(text.out.find("northwind-support v3 (northwind): approved, enforced"), std::string::npos) << text.out;
  auto again = w.cli({"contract", "adopt", "northwind-support", "3", "--vouched-by", "legal@brand.example"});
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_NE(again.out.find("both approvals already recorded"), std::string::npos) << again.out;
  auto check_after = w.cli({"check"});
  EXPECT_NE(check_after.out.find("northwind-support v3 (northwind, 2026-01-01 to 2026-12-31): enforced"), std::string::npos)
      << check_after.out;
}

// The brand's side of a partner's dispute from the command line: listed, shown, accepted as
// cli:USER (with --by as its name), a second resolution and an unknown id refused.
// `dispute record` takes a partner's dispute that reached the brand by mail or phone through the
// same terms as the API (here: a window long closed), and says what is wrong with its arguments.
TEST(Cli, DisputeRecordAppliesTheContractsTermsAndChecksItsArguments) {
  ExamplesWorld w;
  ASSERT_EQ(w.cli({"db", "migrate"}).exit_code, 0);
  ASSERT_EQ(w.cli({"contract", "adopt", "--all", "--vouched-by", "test@brand.example"}).exit_code, 0);
  const std::vector<std::string> base{"dispute", "record", "--partner", "fabrikam-field", "--contract", "fabrikam-field", "--version", "1",
                                      "--rule", "on_site_4h", "--from", "service@fabrikam.example", "--reason", "site closed"};
  auto with = [&](std::vector<std::string> extra) {
    auto args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return w.cli(args);
  };
  auto late = with({"--period", "2026-01", "--item", "demo/tickets/fabrikam-F10", "--category", "customer_caused"});
  EXPECT_EQ(late.exit_code, 1);
  EXPECT_NE(late.err.find("the dispute window of 2026-01 closed at"), std::string::npos) << late.err;
  EXPECT_NE(late.err.find("nothing recorded"), std::string::npos) << late.err;
  auto bad_item = with({"--period", "2026-10", "--item", "fabrikam-F10", "--category", "customer_caused"});
  EXPECT_EQ(bad_item.exit_code, 1);
  EXPECT_NE(bad_item.err.find("expected SOURCE/KIND/ID"), std::string::npos) << bad_item.err;
  auto bad_category = with({"--period", "2026-10", "--category", "weather"});
  EXPECT_EQ(bad_category.exit_code, 1);
  EXPECT_NE(bad_category.err.find("--category 'weather'"), std::string::npos) << bad_category.err;
  auto other = w.cli({"dispute", "record", "--partner", "northwind", "--contract", "fabrikam-field", "--version", "1", "--rule", "on_site_4h",
                      "--from", "x", "--reason", "y", "--period", "2026-10", "--category", "customer_caused"});
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_NE(other.err.find("no contract 'fabrikam-field' of partner 'northwind'"), std::string::npos) << other.err;
  EXPECT_EQ(w.cli({"dispute", "list"}).out, "no dispute\n") << "refusals record nothing";
}

TEST(Cli, DisputesAreListedShownAndAnsweredForTheBrand) {
  ExamplesWorld w;
  ASSERT_EQ(w.cli({"db", "migrate"}).exit_code, 0);
  {
    // A partner's dispute as the API records it (the examples' contracts allow none, so straight
    // into the store).
    auto s = store::Store::open({"sqlite://" + (w.dir.path() / "var/p.db").string(), "", 1});
    ASSERT_TRUE(s) << s.error();
    store::Dispute d;
    d.subject = {"northwind", "northwind-support", 3, "2026-10", "p1_first_reply", "import", "tickets", "northwind-N2"};
    d.category = core::DisputeCategory::customer_caused;
    d.opened_at = *core::parse_rfc3339("2026-11-05T10:00:00Z");
    core::DisputeAction opening;
    opening.act = core::DisputeAct::open;
    opening.party = core::Party::partner;
    opening.actor = "tok_nw";
    opening.actor_name = "coo@northwind.example";
    opening.at = d.opened_at;
    opening.comment = "the customer asked us to wait";
    store::AuditEntry audit;
    audit.at = d.opened_at;
    audit.actor = "tok_nw";
    audit.role = "partner";
    audit.action = "dispute.open";
    auto opened = (*s)->disputes().open(d, {opening}, audit);
    ASSERT_TRUE(opened) << opened.error();
    ASSERT_EQ(opened->first.id, 1);
    // A correction beside it (the brand's, in the same store): no dispute of these commands.
    store::Dispute c;
    c.kind = core::DisputeKind::correction;
    c.subject = {"northwind", "northwind-support", 3, "2026-10", "", "", "", ""};
    c.category = core::DisputeCategory::brand_caused;
    c.opened_at = d.opened_at;
    c.rules = {"p1_first_reply"};
    c.window_from = *core::parse_rfc3339("2026-10-14T11:00:00Z");
    c.window_until = *core::parse_rfc3339("2026-10-14T15:30:00Z");
    opening.party = core::Party::brand;
    opening.comment = "brand platform outage";
    auto correction = (*s)->disputes().open(c, {opening}, audit);
    ASSERT_TRUE(correction) << correction.error();
    ASSERT_EQ(correction->first.id, 2);
  }
  auto list = w.cli({"dispute", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("1  open  customer_caused  northwind northwind-support v3 2026-10 p1_first_reply import/tickets/northwind-N2"),
            std::string::npos) << list.out;
  auto none = w.cli({"dispute", "list", "--partner", "northwind", "--state", "accepted"});
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_NE(none.out.find("no dispute"), std::string::npos) << none.out;
  EXPECT_EQ(w.cli({"dispute", "list", "--state", "resolved"}).exit_code, 1);
  auto nobody = w.cli({"dispute", "list", "--partner", "nobody"});
  EXPECT_EQ(nobody.exit_code, 1);
  EXPECT_NE(nobody.err.find("no partner 'nobody'"), std::string::npos) << nobody.err;
  auto show = w.cli({"dispute", "show", "1"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("dispute 1: open, customer_caused"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("partner open by coo@northwind.example (tok_nw): the customer asked us to wait"), std::string::npos) << show.out;
  EXPECT_EQ(list.out.find("\n2  "), std::string::npos) << "a correction is not listed: " << list.out;
  auto correction = w.cli({"dispute", "accept", "2", "--comment", "ok"});
  EXPECT_EQ(correction.exit_code, 1);
  EXPECT_NE(correction.err.find("no dispute 2: it is a correction"), std::string::npos) << correction.err;
  auto unknown = w.cli({"dispute", "show", "42"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("no dispute 42"), std::string::npos) << unknown.err;
  auto unknown_act = w.cli({"dispute", "accept", "42", "--comment", "ok"});
  EXPECT_EQ(unknown_act.exit_code, 1);
  EXPECT_NE(unknown_act.err.find("no dispute 42"), std::string::npos) << unknown_act.err;
  EXPECT_EQ(w.cli({"dispute", "reject", "1"}).exit_code, 2) << "a rejection needs its reason";
  EXPECT_EQ(w.cli({"dispute", "accept", "one", "--comment", "ok"}).exit_code, 2);

  auto accept = w.cli({"dispute", "accept", "1", "--comment", "the log agrees", "--by", "cfo@brand.example"});
  ASSERT_EQ(accept.exit_code, 0) << accept.err;
  EXPECT_NE(accept.out.find("dispute 1: accept recorded (#3); now accepted"), std::string::npos) << accept.out;
  auto twice = w.cli({"dispute", "reject", "1", "--comment", "no"});
  EXPECT_EQ(twice.exit_code, 1);
  EXPECT_NE(twice.err.find("is already accepted; nothing recorded"), std::string::npos) << twice.err;
  auto note = w.cli({"dispute", "comment", "1", "--comment", "credited in November"});
  ASSERT_EQ(note.exit_code, 0) << note.err;
  EXPECT_NE(note.out.find("comment recorded (#4); now accepted"), std::string::npos) << note.out;

  auto j = nlohmann::json::parse(w.cli({"dispute", "show", "1", "--json"}).out);
  EXPECT_EQ(j["state"], "accepted");
  ASSERT_EQ(j["thread"].size(), 3u);
  EXPECT_EQ(j["thread"][1]["party"], "brand");
  EXPECT_EQ(j["thread"][1]["actor"].get<std::string>().rfind("cli:", 0), 0u) << j["thread"][1];
  EXPECT_EQ(j["thread"][1]["actor_name"], "cfo@brand.example");
  EXPECT_EQ(j["thread"][2]["actor_name"], j["thread"][2]["actor"].get<std::string>().substr(4)) << "without --by, the user's name";
  auto all = nlohmann::json::parse(w.cli({"dispute", "list", "--json", "--state", "accepted"}).out);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0]["id"], 1);
}

// The brand's corrections from the command line: declared as cli:USER (with --by as its name),
// a refusal printed with its reason, listed and shown apart from disputes, withdrawn once.
TEST(Cli, CorrectionsAreDeclaredListedShownAndWithdrawnForTheBrand) {
  ExamplesWorld w;
  ASSERT_EQ(w.cli({"db", "migrate"}).exit_code, 0);
  ASSERT_EQ(w.cli({"contract", "adopt", "northwind-support", "3", "--vouched-by", "legal@brand.example"}).exit_code, 0);
  const std::vector<std::string> declare{"correction", "declare", "--partner", "northwind", "--contract", "northwind-support",
                                         "--version", "3", "--rules", "p1_first_reply,reopen_loops", "--from", "2026-10-14T11:00:00Z",
                                         "--until", "2026-10-14T15:30:00Z", "--category", "brand_caused", "--reason",
                                         "brand platform outage"};
  auto with = [&](std::vector<std::string> args, const std::string& flag, const std::string& value) {
    const auto at = std::find(args.begin(), args.end(), flag);
    *(at + 1) = value;
    return args;
  };
  // Refusals, each with its reason and nothing stored.
  auto unknown_rule = w.cli(with(declare, "--rules", "p1_first_reply,speed"));
  EXPECT_EQ(unknown_rule.exit_code, 1);
  EXPECT_NE(unknown_rule.err.find("northwind-support v3 has no rule 'speed'; nothing recorded"), std::string::npos) << unknown_rule.err;
  auto empty = w.cli(with(declare, "--until", "2026-10-14T11:00:00Z"));
  EXPECT_EQ(empty.exit_code, 1);
  EXPECT_NE(empty.err.find("the window is empty"), std::string::npos) << empty.err;
  auto bad_time = w.cli(with(declare, "--from", "yesterday"));
  EXPECT_EQ(bad_time.exit_code, 1);
  EXPECT_NE(bad_time.err.find("--from 'yesterday'"), std::string::npos) << bad_time.err;
  auto bad_category = w.cli(with(declare, "--category", "weather"));
  EXPECT_EQ(bad_category.exit_code, 1);
  EXPECT_NE(bad_category.err.find("--category 'weather': expected one of misattributed"), std::string::npos) << bad_category.err;
  EXPECT_EQ(w.cli({"correction", "list"}).out.find("no correction"), 0u);

  auto declared_by = declare;
  declared_by.insert(declared_by.end(), {"--by", "ops@brand.example"});
  auto declared = w.cli(declared_by);
  ASSERT_EQ(declared.exit_code, 0) << declared.err;
  EXPECT_NE(declared.out.find("correction 1: open, brand_caused"), std::string::npos) << declared.out;
  EXPECT_NE(declared.out.find("northwind northwind-support v3 2026-10 p1_first_reply,reopen_loops 2026-10-14T11:00:00Z/2026-10-14T15:30:00Z"),
            std::string::npos) << declared.out;

  auto list = w.cli({"correction", "list", "--partner", "northwind", "--state", "open"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("1  open  brand_caused  northwind northwind-support v3 2026-10 p1_first_reply,reopen_loops"), std::string::npos)
      << list.out;
  EXPECT_NE(w.cli({"dispute", "list"}).out.find("no dispute"), std::string::npos) << "a correction is no dispute";
  EXPECT_EQ(w.cli({"correction", "list", "--state", "resolved"}).exit_code, 1);
  auto show = w.cli({"correction", "show", "1"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("correction 1: open, brand_caused"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("brand open by ops@brand.example (cli:"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find(": brand platform outage"), std::string::npos) << show.out;
  auto as_dispute = w.cli({"dispute", "show", "1"});
  EXPECT_EQ(as_dispute.exit_code, 1);
  EXPECT_NE(as_dispute.err.find("no dispute 1: it is a correction"), std::string::npos) << as_dispute.err;
  auto missing = w.cli({"correction", "show", "42"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("no correction 42"), std::string::npos) << missing.err;

  auto note = w.cli({"correction", "comment", "1", "--comment", "the incident report is attached to INC-7"});
  ASSERT_EQ(note.exit_code, 0) << note.err;
  EXPECT_NE(note.out.find("correction 1: comment recorded (#2); now open"), std::string::npos) << note.out;
  EXPECT_EQ(w.cli({"correction", "withdraw", "1"}).exit_code, 2) << "a withdrawal says why";
  auto withdrawn = w.cli({"correction", "withdraw", "1", "--comment", "declared against the wrong contract"});
  ASSERT_EQ(withdrawn.exit_code, 0) << withdrawn.err;
  EXPECT_NE(withdrawn.out.find("correction 1: withdraw recorded (#3); now withdrawn"), std::string::npos) << withdrawn.out;
  auto again = w.cli({"correction", "withdraw", "1", "--comment", "again"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("nothing recorded"), std::string::npos) << again.err;
  auto j = nlohmann::json::parse(w.cli({"correction", "show", "1", "--json"}).out);
  EXPECT_EQ(j["kind"], "correction");
  EXPECT_EQ(j["state"], "withdrawn");
  EXPECT_EQ(j["rules"], nlohmann::json({"p1_first_reply", "reopen_loops"}));
  ASSERT_EQ(j["thread"].size(), 3u);
  EXPECT_EQ(j["thread"][0]["actor_name"], "ops@brand.example");
  EXPECT_EQ(j["thread"][2]["party"], "brand");
  EXPECT_EQ(nlohmann::json::parse(w.cli({"correction", "list", "--json", "--state", "withdrawn"}).out).size(), 1u);
}

// The signed agreement record of an agreed version, checked offline; each kind of tampering, and
// another installation's key, refused; no record of a version that is not agreed.
TEST(Cli, ContractRecordIsSignedAndVerifiedOfflineAndTamperingIsRefused) {
  ExamplesWorld w;
  ASSERT_EQ(w.cli({"db", "migrate"}).exit_code, 0);
  auto refused = w.cli({"contract", "record", "northwind-support", "3"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("no agreement record: northwind-support v3 is not agreed (it is draft)"), std::string::npos)
      << refused.err;
  EXPECT_FALSE(std::filesystem::exists(w.dir.path() / "var/agreement-signing.key")) << "no key made for a refusal";
  ASSERT_EQ(w.cli({"contract", "adopt", "northwind-support", "3", "--vouched-by", "legal@brand.example"}).exit_code, 0);

  const auto record_file = w.dir.path() / "northwind-v3.agreement.json";
  auto record = w.cli({"contract", "record", "northwind-support", "3", "--out", record_file.string()});
  ASSERT_EQ(record.exit_code, 0) << record.err;
  EXPECT_EQ((std::filesystem::status(w.dir.path() / "var/agreement-signing.key").permissions() & std::filesystem::perms::all),
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto printed = w.cli({"contract", "record", "northwind-support", "3"});
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  const auto doc = nlohmann::json::parse(testutils::read_file(record_file));
  EXPECT_EQ(nlohmann::json::parse(printed.out)["record"]["sha256"], doc["record"]["sha256"]);
  ASSERT_EQ(doc["record"]["approvals"].size(), 2u);

  const auto pub_file = w.dir.write("ours.pem", w.cli({"contract", "public-key"}).out);
  EXPECT_NE(testutils::read_file(pub_file).find("-----BEGIN PUBLIC KEY-----"), std::string::npos);
  // verify needs neither config nor store.
  auto ok = run({kBinary, "contract", "verify", record_file.string(), "--public-key", pub_file.string()});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("valid: northwind-support v3 sha256 " + doc["record"]["sha256"].get<std::string>() + ", signed by key " +
                        doc["signature"]["key_id"].get<std::string>()),
            std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("  brand: "), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("  partner: "), std::string::npos) << ok.out;

  // Another installation's key, and its own record of the same version.
  ExamplesWorld other;
  ASSERT_EQ(other.cli({"db", "migrate"}).exit_code, 0);
  ASSERT_EQ(other.cli({"contract", "adopt", "northwind-support", "3", "--vouched-by", "legal@brand.example"}).exit_code, 0);
  const auto theirs = nlohmann::json::parse(other.cli({"contract", "record", "northwind-support", "3"}).out);
  const auto other_pub = w.dir.write("theirs.pem", other.cli({"contract", "public-key"}).out);
  ASSERT_EQ(theirs["signature"]["public_key"], testutils::read_file(other_pub));
  auto not_ours = run({kBinary, "contract", "verify", record_file.string(), "--public-key", other_pub.string()});
  EXPECT_EQ(not_ours.exit_code, 1);
  EXPECT_NE(not_ours.err.find("pactwatch: invalid agreement record: signed by key"), std::string::npos) << not_ours.err;

  auto tampered = [&](const std::string& name, const std::function<void(nlohmann::json&)>& change) {
    nlohmann::json d = doc;
    change(d);
    const auto file = w.dir.write(name + ".json", d.dump(2));
    return run({kBinary, "contract", "verify", file.string()});
  };
  const std::vector<std::pair<std::string, std::function<void(nlohmann::json&)>>> tamperings{
      {"canonical", [](nlohmann::json& d) { d["record"]["canonical"] = d["record"]["canonical"].get<std::string>() + " "; }},
      {"approval", [](nlohmann::json& d) { d["record"]["approvals"][1]["sha256"] = std::string(64, '0'); }},
      {"signature",
       [](nlohmann::json& d) {
         auto v = d["signature"]["value"].get<std::string>();
         v[0] = v[0] == 'A' ? 'B' : 'A';
         d["signature"]["value"] = v;
       }},
      {"key", [&](nlohmann::json& d) {
         d["signature"]["public_key"] = theirs["signature"]["public_key"];
         d["signature"]["key_id"] = theirs["signature"]["key_id"];
       }}};
  for (const auto& [name, change] : tamperings) {
    auto r = tampered(name, change);
    EXPECT_EQ(r.exit_code, 1) << name;
    EXPECT_NE(r.err.find("pactwatch: invalid agreement record: "), std::string::npos) << name << ": " << r.err;
  }
  auto garbage = run({kBinary, "contract", "verify", w.dir.write("garbage.json", "{not json").string()});
  EXPECT_EQ(garbage.exit_code, 1);
  EXPECT_NE(garbage.err.find("invalid agreement record: not JSON"), std::string::npos) << garbage.err;
}

// Acts recorded by the command line while serve runs change what it enforces within seconds.
TEST(Serve, PicksUpContractActsRecordedByTheCommandLine) {
  ExamplesWorld w;
  testutils::Child child({kBinary, "serve", "-c", w.config.string()});
  ASSERT_TRUE(child.wait_for_err("0 enforced", 20s)) << child.err();
  ASSERT_TRUE(child.wait_for_err("not recorded in the store: unverified", 1s)) << child.err();
  auto adopt = w.cli({"contract", "adopt", "northwind-support", "3", "--vouched-by", "legal@brand.example"});
  ASSERT_EQ(adopt.exit_code, 0) << adopt.err;
  EXPECT_TRUE(child.wait_for_err("contract acts recorded: 1 contract version(s) enforced", 15s)) << child.err();
  child.signal(SIGTERM);
  EXPECT_EQ(child.wait(10s), 0);
}

TEST(Cli, SourcesListTestAndSyncAgainstAFakeFreshdesk) {
  testutils::FakeHttp fake;
  fake.get("/api/v2/agents/me", [](const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Authorization").empty()) {
      res.status = 401;
      return;
    }
    res.set_content(R"({"contact": {"name": "Ops Robot", "email": "ops@brand.example"}})", "application/json");
  });
  fake.get("/api/v2/tickets", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"([{"id": 7, "status": 2, "priority": 4, "company_id": 4100, "created_at": "2026-10-05T08:00:00Z",
                         "updated_at": "2026-10-05T09:00:00Z", "stats": {"first_responded_at": "2026-10-05T08:20:00Z"}},
                        {"id": 8, "status": 5, "priority": 1, "company_id": 999, "created_at": "2026-10-05T08:00:00Z",
                         "updated_at": "2026-10-05T09:30:00Z"}])",
                    "application/json");
  });
  const int port = fake.start();
  Daemon d("", "sources:\n  desk:\n    kind: freshdesk\n    url: http://127.0.0.1:" + std::to_string(port) +
                   "\n    auth: {type: api_key, secret_file: SECRET}\n    page_size: 50\n    max_retries: 1\n");
  d.dir.write("rules/partners.yaml", "partners:\n  - {id: northwind, name: Northwind, kind: outsourcer, external_ids: {desk: 4100}}\n");
  const auto secret = d.dir.write("freshdesk.key", "abcdef\n");
  {
    std::string cfg = testutils::read_file(d.config);
    cfg.replace(cfg.find("SECRET"), 6, secret.string());
    d.dir.write("pactwatch.yaml", cfg);
  }
  auto list = run({kBinary, "sources", "list", "-c", d.config.string()});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("desk  freshdesk  http://127.0.0.1:"), std::string::npos) << list.out;
  auto probe = run({kBinary, "sources", "test", "desk", "-c", d.config.string()});
  EXPECT_EQ(probe.exit_code, 0) << probe.err;
  EXPECT_NE(probe.out.find("desk: authenticated as Ops Robot <ops@brand.example>"), std::string::npos) << probe.out;
  auto synced = run({kBinary, "sources", "sync", "desk", "-c", d.config.string()});
  EXPECT_EQ(synced.exit_code, 0) << synced.err;
  EXPECT_NE(synced.out.find("desk: 1 page(s), 2 record(s), 2 written, 0 unchanged, 1 unattributed, 0 set aside"), std::string::npos) << synced.out;
  EXPECT_NE(synced.out.find("unattributed ids: 8"), std::string::npos) << synced.out;
  auto s = store::Store::open({"sqlite://" + (d.dir.path() / "var/pactwatch.db").string(), "", 1});
  ASSERT_TRUE(s);
  auto t = (*s)->items().find("desk", "tickets", "7");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->partner_id, "northwind");
  EXPECT_EQ(t->priority, "urgent");
  EXPECT_EQ(run({kBinary, "sources", "sync", "nope", "-c", d.config.string()}).exit_code, 1);
  fake.stop();
  // The source is down: a clear error, exit 1, the cursor where it was.
  auto down = run({kBinary, "sources", "sync", "desk", "-c", d.config.string()});
  EXPECT_EQ(down.exit_code, 1);
  EXPECT_NE(down.err.find("desk: "), std::string::npos) << down.err;
  EXPECT_NE(down.err.find("the cursor stays"), std::string::npos) << down.err;
}

// The quarantine and the cursor as an operator sees them: a deal that cannot be mapped is set
// aside and listed; a backfill leaves the cursor alone; moving the cursor is a command of its own
// that needs a reason, waits for no poll (refused while another instance holds the source), and
// lands in the audit log. On both backends.
TEST(Cli, SourcesQuarantineBackfillAndCursorCommands) {
  testutils::FakeHttp fake;
  fake.post("/crm/v3/objects/deals/search", [](const httplib::Request&, httplib::Response& res) {
    nlohmann::json results = nlohmann::json::array();
    int n = 0;
    for (const char* amount : {"1200.00", "38033.969", "99.5"}) {
      ++n;
      results.push_back({{"id", std::to_string(n)},
                         {"properties", {{"amount", amount}, {"deal_currency_code", "EUR"}, {"dealstage", "appointmentscheduled"},
                                         {"createdate", "2026-10-01T00:00:00Z"}, {"hs_lastmodifieddate", "2026-10-05T0" + std::to_string(n) + ":00:00Z"},
                                         {"partner_id", "4100"}}}});
    }
    res.set_content(nlohmann::json({{"total", 3}, {"results", results}}).dump(), "application/json");
  });
  const int port = fake.start();
  testutils::TempDir secrets;
  const auto token = secrets.write("hubspot.token", "pat-na1-abc\n");
  for (const std::string& db_url : {std::string(), testutils::shared_postgres().create_database("cli_sources")}) {
    SCOPED_TRACE(db_url.empty() ? "sqlite" : "postgresql");
    Daemon d(db_url, "sources:\n  desk:\n    kind: hubspot\n    url: http://127.0.0.1:" + std::to_string(port) +
                         "\n    auth: {type: bearer, secret_file: " + token.string() +
                         "}\n    since: 2026-10-01T00:00:00Z\n    options: {currency: EUR}\n");
    d.dir.write("rules/partners.yaml", "partners:\n  - {id: northwind, name: Northwind, kind: outsourcer, external_ids: {desk: 4100}}\n");
    auto cli = [&](std::vector<std::string> args) {
      args.insert(args.begin(), kBinary);
      args.push_back("-c");
      args.push_back(d.config.string());
      return run(args);
    };
    auto synced = cli({"sources", "sync", "desk"});
    ASSERT_EQ(synced.exit_code, 0) << synced.err;
    EXPECT_NE(synced.out.find("desk: 1 page(s), 3 record(s), 2 written, 0 unchanged, 0 unattributed, 1 set aside;"), std::string::npos)
        << synced.out;
    EXPECT_NE(synced.out.find("set aside (they could not be mapped): 2 (see 'pactwatch sources quarantine desk')"), std::string::npos)
        << synced.out;
    auto held = cli({"sources", "quarantine", "desk"});
    EXPECT_EQ(held.exit_code, 0) << held.err;
    EXPECT_NE(held.out.find("desk  deals  2  read 1 time(s)"), std::string::npos) << held.out;
    EXPECT_NE(held.out.find("'38033.969' has more decimals than EUR allows (2)"), std::string::npos) << held.out;
    EXPECT_NE(held.out.find("1 record(s) set aside"), std::string::npos) << held.out;

    auto shown = cli({"sources", "cursor", "show", "desk"});
    EXPECT_EQ(shown.exit_code, 0) << shown.err;
    const std::string stood = shown.out;
    EXPECT_NE(stood.find("desk: {\"since\":"), std::string::npos) << stood;

    // A backfill re-reads, and the cursor stays where it was.
    auto backfill = cli({"sources", "sync", "desk", "--since", "2026-10-01T00:00:00Z"});
    EXPECT_EQ(backfill.exit_code, 0) << backfill.err;
    EXPECT_NE(backfill.out.find("(a backfill: the cursor stays where it was)"), std::string::npos) << backfill.out;
    EXPECT_NE(backfill.out.find("3 record(s), 0 written, 3 unchanged, 0 unattributed, 0 set aside"), std::string::npos) << backfill.out;
    EXPECT_EQ(cli({"sources", "cursor", "show", "desk"}).out, stood);

    // Moving the cursor needs a reason, and an instant.
    EXPECT_EQ(cli({"sources", "cursor", "set", "desk", "2026-11-15T00:00:00Z"}).exit_code, 2);
    EXPECT_EQ(cli({"sources", "cursor", "set", "desk", "yesterday", "--reason", "x"}).exit_code, 2);
    const std::string url = db_url.empty() ? "sqlite://" + (d.dir.path() / "var/pactwatch.db").string() : db_url;
    auto store = store::Store::open({url, "", 1});
    ASSERT_TRUE(store);
    // While another instance polls the source, the cursor is left alone.
    ASSERT_TRUE((*store)->leases().claim("source:desk", "serve-1", core::SystemClock().now(), std::chrono::minutes(1)));
    auto busy = cli({"sources", "cursor", "set", "desk", "2026-11-15T00:00:00Z", "--reason", "agreed with finance"});
    EXPECT_EQ(busy.exit_code, 1);
    EXPECT_NE(busy.err.find("desk is being polled by serve-1"), std::string::npos) << busy.err;
    EXPECT_EQ(cli({"sources", "cursor", "show", "desk"}).out, stood);
    ASSERT_TRUE((*store)->leases().release("source:desk", "serve-1"));
    auto moved = cli({"sources", "cursor", "set", "desk", "2026-11-15T00:00:00Z", "--reason", "agreed with finance: October is imported"});
    EXPECT_EQ(moved.exit_code, 0) << moved.err;
    EXPECT_NE(moved.out.find("desk: the next sync starts at 2026-11-15T00:00:00Z"), std::string::npos) << moved.out;
    EXPECT_NE(moved.err.find("cursor moved by cli"), std::string::npos) << moved.err;  // logged
    EXPECT_EQ(cli({"sources", "cursor", "show", "desk"}).out, "desk: {\"since\":1794700800000}\n");
    const auto audit = (*store)->audit().newest(10);
    ASSERT_EQ(audit.size(), 1u);
    EXPECT_EQ(audit[0].action, "source.cursor.set");
    EXPECT_EQ(audit[0].role, "admin");
    EXPECT_TRUE(audit[0].actor.starts_with("cli ")) << audit[0].actor;
    EXPECT_NE(audit[0].target.find("desk to 2026-11-15T00:00:00Z (was {\"since\":"), std::string::npos) << audit[0].target;
    EXPECT_NE(audit[0].target.find("): agreed with finance: October is imported"), std::string::npos) << audit[0].target;
    // The command gave the source's lease back: an instance polls again at its next tick.
    EXPECT_TRUE((*store)->leases().claim("source:desk", "serve-1", core::SystemClock().now(), std::chrono::minutes(1)));
  }
  fake.stop();
}

TEST(Cli, SourceConfigErrorsAreClear) {
  testutils::TempDir dir;
  auto bad = dir.write("bad.yaml",
                       "sources:\n  zd:\n    kind: zendesk2\n    url: https://user:pw@acme.zendesk.com\n"
                       "    auth: {type: token, user: a@b.example, secret: hunter2}\n    poll_interval: often\n");
  auto r = run({kBinary, "check", "-c", bad.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("sources.zd.kind: unknown kind 'zendesk2'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("credentials do not go in the URL"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("never written in the config"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("sources.zd.poll_interval: expected a duration"), std::string::npos) << r.err;
  auto drop = dir.write("drop.yaml", "sources:\n  inbox:\n    kind: file\n    path: relative/dir\n    items: tickets\n    url: https://x\n");
  auto d = run({kBinary, "check", "-c", drop.string()});
  EXPECT_EQ(d.exit_code, 1);
  EXPECT_NE(d.err.find("a file source needs path, an absolute directory"), std::string::npos) << d.err;
  EXPECT_NE(d.err.find("a file source takes path and items, not url or auth"), std::string::npos) << d.err;
}

TEST(Cli, ScenarioTestsReportFailures) {
  testutils::TempDir dir;
  const std::string rules = std::string(PACTWATCH_SOURCE_DIR) + "/rules/examples";
  auto f = dir.write("s.yaml", "rules: " + rules + "\ncontract: tailspin-supply\nperiod: 2026-Q3\nas_of: 2026-10-01T00:00:00Z\n"
                               "items:\n  events:\n    - {id: 1, partner: tailspin-parts, name: delivery, at: \"2026-08-01T00:00:00Z\", late: true}\n"
                               "expect:\n  kpis:\n    on_time_delivery: {value: \"100.00%\", denominator: 1}\n");
  auto r = run({kBinary, "test", f.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("on_time_delivery' value: expected 100.00%, got 0.00%"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 scenario(s) (0 passed, 1 failed), 2 check(s): 1 passed, 1 failed"), std::string::npos) << r.out;
}

// A scenario states the accepted disputes and corrections its evaluation applies, and checks
// what they left out; a malformed one is a broken scenario, with the line.
TEST(Cli, ScenarioExclusionsLeaveItemsOutOfTheirRules) {
  testutils::TempDir dir;
  const std::string rules = std::string(PACTWATCH_SOURCE_DIR) + "/rules/examples";
  const std::string head = "rules: " + rules + "\ncontract: tailspin-supply\nperiod: 2026-Q3\nas_of: 2026-10-01T00:00:00Z\n"
                           "items:\n  events:\n"
                           "    - {id: 1, partner: tailspin-parts, name: delivery, at: \"2026-08-01T00:00:00Z\", late: true}\n"
                           "    - {id: 2, partner: tailspin-parts, name: delivery, at: \"2026-08-02T00:00:00Z\", late: false}\n"
                           "    - {id: 3, partner: tailspin-parts, name: delivery, at: \"2026-09-02T00:00:00Z\", late: true}\n";
  auto f = dir.write("s.yaml", head +
                                   "exclusions:\n"
                                   "  - {by: dispute 4, rules: [on_time_delivery], item: {kind: events, id: \"1\"}}\n"
                                   "  - {by: correction 2, rules: [on_time_delivery], created: {from: \"2026-09-01T00:00:00Z\", until: \"2026-09-03T00:00:00Z\"}}\n"
                                   "expect:\n  kpis:\n    on_time_delivery: {value: \"100.00%\", denominator: 1, excluded: 2}\n");
  auto r = run({kBinary, "test", f.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("3 check(s): 3 passed, 0 failed"), std::string::npos) << r.out;
  auto without = dir.write("w.yaml", head + "expect:\n  kpis:\n    on_time_delivery: {denominator: 3, excluded: 0}\n");
  r = run({kBinary, "test", without.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  auto bad = dir.write("b.yaml", head + "exclusions:\n  - {by: dispute 4, rules: [speed], item: {kind: events, id: \"1\"}}\nexpect: {}\n");
  r = run({kBinary, "test", bad.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("b.yaml:11:29:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("exclusions: rules: 'speed' is not a rule of tailspin-supply"), std::string::npos) << r.out;
}

// Scenario items are typed as import types NDJSON: a plain 4.5 is a number (a mean over it), a
// quoted "good" a label (missing in a mean), null absent.
TEST(Cli, ScenarioItemsAreTypedAsImportTypesThem) {
  testutils::TempDir dir;
  const std::string rules = std::string(PACTWATCH_SOURCE_DIR) + "/rules/examples";
  auto f = dir.write("s.yaml", "rules: " + rules + "\ncontract: northwind-support\nversion: 3\nperiod: 2026-10\nas_of: 2026-11-02T00:00:00Z\n"
                               "items:\n  surveys:\n"
                               "    - {id: S1, partner: northwind, type: qa, submitted_at: \"2026-10-05T10:00:00Z\", score: 4.5}\n"
                               "    - {id: S2, partner: northwind, type: qa, submitted_at: \"2026-10-05T11:00:00Z\", score: 3.75, comment: null}\n"
                               "    - {id: S3, partner: northwind, type: qa, submitted_at: \"2026-10-05T12:00:00Z\", score: \"good\"}\n"
                               "    - {id: S4, partner: northwind, type: qa, submitted_at: \"2026-10-05T13:00:00Z\", score: 5}\n"
                               "expect:\n  kpis:\n    qa_score: {value: \"4.416667\", sample: 3, missing_values: 1}\n");
  auto r = run({kBinary, "test", f.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("1 scenario(s) (1 passed, 0 failed), 3 check(s): 3 passed, 0 failed"), std::string::npos) << r.out;
}

TEST(Cli, MissingConfigFileIsAClearError) {
  auto r = run({kBinary, "check", "-c", "/nonexistent/pactwatch.yaml"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent/pactwatch.yaml: cannot read the config file"), std::string::npos) << r.err;
}

void serve_and_stop(const std::string& db_url, int stop_signal) {
  Daemon d(db_url);
  testutils::Child child({kBinary, "serve", "-c", d.config.string()});
  ASSERT_TRUE(d.wait_live(child)) << child.err();

  httplib::Client c("127.0.0.1", d.port);
  auto ready = c.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  auto body = nlohmann::json::parse(ready->body);
  EXPECT_EQ(body["status"], "ready");
  EXPECT_EQ(body["checks"]["store"], "ok");
  // The first heartbeat takes every shard and evaluates them in full.
  auto metrics = c.Get("/metrics");
  (void)testutils::eventually(
      [&] {
        if (!metrics || metrics->body.find("pactwatch_evaluation_runs_total{kind=\"full\"} 1") != std::string::npos) return true;
        metrics = c.Get("/metrics");
        return false;
      },
      5s, 50ms);
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->body.find("pactwatch_cluster_shards_owned 64\n"), std::string::npos) << metrics->body;
  EXPECT_NE(metrics->body.find("# TYPE pactwatch_source_requests_total counter"), std::string::npos) << metrics->body;
  EXPECT_NE(metrics->body.find("# TYPE pactwatch_outbox_deliveries gauge"), std::string::npos) << metrics->body;
  EXPECT_NE(metrics->body.find("pactwatch_evaluation_runs_total{kind=\"full\"} 1"), std::string::npos) << metrics->body;
  auto missing = c.Get("/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);

  child.signal(stop_signal);
  auto code = child.wait(10s);
  ASSERT_TRUE(code.has_value()) << "did not stop within 10 s";
  EXPECT_EQ(*code, 0) << child.err();
  EXPECT_NE(child.err().find("stopped"), std::string::npos);

  // The store was created, migrated and loaded with the partners from the rules.
  std::string url = db_url.empty() ? "sqlite://" + (d.dir.path() / "var/pactwatch.db").string() : db_url;
  auto s = store::Store::open({url, "", 1});
  ASSERT_TRUE(s);
  EXPECT_TRUE((*s)->schema_status().up_to_date());
  EXPECT_EQ((*s)->partners().all().size(), 2u);
}

TEST(Serve, SqliteLivezReadyzAndSigterm) { serve_and_stop("", SIGTERM); }

// docs/operations.md lists every metric /metrics shows, with its type, and none it does not.
TEST(Serve, EveryMetricIsDocumented) {
  Daemon d;
  testutils::Child child({kBinary, "serve", "-c", d.config.string()});
  ASSERT_TRUE(d.wait_live(child)) << child.err();
  httplib::Client c("127.0.0.1", d.port);
  auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics);
  const std::string doc = testutils::read_file(std::string(PACTWATCH_SOURCE_DIR) + "/docs/operations.md");
  std::set<std::string> shown;
  std::istringstream lines(metrics->body);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("# TYPE ")) continue;
    const auto name = line.substr(7, line.find(' ', 7) - 7);
    const auto type = line.substr(line.rfind(' ') + 1);
    shown.insert(name);
    EXPECT_NE(doc.find("| `" + name + "` | " + type + " |"), std::string::npos) << name << " (" << type << ") is not in docs/operations.md";
  }
  EXPECT_GE(shown.size(), 29u) << metrics->body;
  for (std::size_t at = doc.find("| `pactwatch_"); at != std::string::npos; at = doc.find("| `pactwatch_", at + 1)) {
    const auto name = doc.substr(at + 3, doc.find('`', at + 3) - at - 3);
    EXPECT_TRUE(shown.contains(name)) << name << " is documented but not shown";
  }
  child.signal(SIGTERM);
  EXPECT_TRUE(child.wait(10s).has_value());
}

// /metrics counts the disputes and corrections awaiting an answer, by partner, kind and age.
TEST(Serve, OpenDisputesAreCountedByPartnerAndAge) {
  Daemon d;
  testutils::Child child({kBinary, "serve", "-c", d.config.string()});
  ASSERT_TRUE(d.wait_live(child)) << child.err();
  {
    auto s = store::Store::open({"sqlite://" + (d.dir.path() / "var/pactwatch.db").string(), "", 1});
    ASSERT_TRUE(s) << s.error();
    store::Dispute dispute;
    dispute.subject = {"nw", "nw-support", 1, "2026-10", "p1", "zendesk", "tickets", "1"};
    dispute.opened_at = core::SystemClock().now() - std::chrono::days(3);
    core::DisputeAction open;
    open.act = core::DisputeAct::open;
    open.party = core::Party::partner;
    open.actor = "tok_nw";
    open.actor_name = "nw";
    open.at = dispute.opened_at;
    open.comment = "not ours";
    store::AuditEntry audit;
    audit.at = dispute.opened_at;
    audit.actor = "test";
    audit.action = "dispute.open";
    ASSERT_TRUE((*s)->disputes().open(dispute, {open}, audit));
  }
  httplib::Client c("127.0.0.1", d.port);
  auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("pactwatch_disputes_open{partner=\"nw\",kind=\"dispute\",age=\"1d_to_7d\"} 1\n"), std::string::npos)
      << metrics->body;
  const auto at = metrics->body.find("pactwatch_disputes_oldest_open_seconds{partner=\"nw\",kind=\"dispute\"} ");
  ASSERT_NE(at, std::string::npos) << metrics->body;
  const auto seconds = std::stoll(metrics->body.substr(at + 68));
  EXPECT_GE(seconds, 3 * 86400);
  EXPECT_LT(seconds, 3 * 86400 + 600);
  child.signal(SIGTERM);
  EXPECT_TRUE(child.wait(10s).has_value());
}

TEST(Cli, TokensAreCreatedListedAndRevokedAndServeHonoursThem) {
  Daemon d;
  auto no_partner = run({kBinary, "token", "create", "--role", "partner", "-c", d.config.string()});
  EXPECT_EQ(no_partner.exit_code, 2);
  EXPECT_NE(no_partner.err.find("--partner ID"), std::string::npos) << no_partner.err;
  auto unknown = run({kBinary, "token", "create", "--role", "partner", "--partner", "acme", "-c", d.config.string()});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("no partner 'acme'"), std::string::npos) << unknown.err;
  auto bad_life = run({kBinary, "token", "create", "--role", "admin", "--expires", "soon", "-c", d.config.string()});
  EXPECT_EQ(bad_life.exit_code, 2);
  // The token alone on stdout (so `> file` keeps just it); what was created on stderr.
  auto a = run({kBinary, "token", "create", "--role", "partner", "--partner", "northwind", "-c", d.config.string()});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  const std::string token = a.out.substr(0, a.out.find('\n'));
  EXPECT_EQ(a.out, token + "\n");
  EXPECT_EQ(token.rfind("pw_", 0), 0u);
  EXPECT_EQ(token.size(), 41u);
  EXPECT_NE(a.err.find("shown only now"), std::string::npos);
  ASSERT_EQ(run({kBinary, "token", "create", "--role", "partner", "--partner", "northwind", "-c", d.config.string()}).exit_code, 0);
  auto third = run({kBinary, "token", "create", "--role", "partner", "--partner", "northwind", "-c", d.config.string()});
  EXPECT_EQ(third.exit_code, 1);
  EXPECT_NE(third.err.find("revoke one first"), std::string::npos) << third.err;
  auto list = run({kBinary, "token", "list", "-c", d.config.string()});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_EQ(list.out.find(token), std::string::npos) << "the token text is never shown again";
  const auto id = list.out.substr(0, list.out.find(' '));
  EXPECT_EQ(id.rfind("tok_", 0), 0u) << list.out;

  testutils::Child child({kBinary, "serve", "-c", d.config.string()});
  ASSERT_TRUE(d.wait_live(child)) << child.err();
  httplib::Client c("127.0.0.1", d.port);
  auto ok = c.Get("/v1/partners", {{"Authorization", "Bearer " + token}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(nlohmann::json::parse(ok->body)["items"].size(), 1u);
  EXPECT_EQ(c.Get("/v1/partners/contoso", {{"Authorization", "Bearer " + token}})->status, 404);
  auto rv = run({kBinary, "token", "revoke", id, "-c", d.config.string()});
  EXPECT_EQ(rv.exit_code, 0) << rv.err;
  EXPECT_EQ(run({kBinary, "token", "revoke", id, "-c", d.config.string()}).exit_code, 1);
  // The daemon re-reads a token's record at most every 5 s.
  int status = 0;
  (void)testutils::eventually(
      [&] { return (status = c.Get("/v1/partners", {{"Authorization", "Bearer " + token}})->status) == 401; }, 8s, 100ms);
  EXPECT_EQ(status, 401);
  EXPECT_EQ(child.err().find(token), std::string::npos) << "tokens never reach the log";
  const auto metrics = c.Get("/metrics");
  EXPECT_NE(metrics->body.find("pactwatch_api_requests_total{route=\"/v1/partners\",method=\"GET\",code=\"401\"}"), std::string::npos);
  child.signal(SIGTERM);
  EXPECT_EQ(child.wait(10s), 0);
}

TEST(Serve, SpeaksHttpsWithACertificateAndRefusesABadOne) {
  testutils::TempDir certs;
  auto gen = run({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                  "-keyout", (certs.path() / "key.pem").string(), "-out", (certs.path() / "cert.pem").string(), "-days", "2",
                  "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  Daemon d("", "api:\n  tls_cert: " + (certs.path() / "cert.pem").string() + "\n  tls_key: " + (certs.path() / "key.pem").string() + "\n");
  testutils::Child child({kBinary, "serve", "-c", d.config.string()});
  httplib::SSLClient tls("127.0.0.1", d.port);
  tls.set_ca_cert_path((certs.path() / "cert.pem").string().c_str());
  tls.enable_server_certificate_verification(true);
  httplib::Result live{nullptr, httplib::Error::Unknown};
  (void)testutils::eventually([&] { return static_cast<bool>(live = tls.Get("/livez")); }, 6s);
  ASSERT_TRUE(live) << child.err();
  EXPECT_EQ(live->status, 200);
  httplib::Client plain("127.0.0.1", d.port);
  auto clear = plain.Get("/livez");
  EXPECT_TRUE(!clear || clear->status != 200) << "no plain HTTP on a TLS listener";
  // The line may reach stderr just after the listener first answers: wait for it.
  EXPECT_TRUE(child.wait_for_err("listening on https://", 10s)) << child.err();
  child.signal(SIGTERM);
  EXPECT_EQ(child.wait(10s), 0);

  // A key that does not belong to the certificate stops the daemon at start, saying why.
  ASSERT_EQ(run({"/usr/bin/openssl", "genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out",
                 (certs.path() / "other.pem").string()}).exit_code, 0);
  Daemon bad("", "api:\n  tls_cert: " + (certs.path() / "cert.pem").string() + "\n  tls_key: " + (certs.path() / "other.pem").string() + "\n");
  auto r = run({kBinary, "serve", "-c", bad.config.string()}, 20s);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot use the TLS certificate"), std::string::npos) << r.err;
  // One without the other is a config error.
  Daemon half("", "api:\n  tls_cert: " + (certs.path() / "cert.pem").string() + "\n");
  auto h = run({kBinary, "check", "-c", half.config.string()});
  EXPECT_EQ(h.exit_code, 1);
  EXPECT_NE(h.err.find("set both tls_cert and tls_key"), std::string::npos) << h.err;
}
TEST(Serve, SqliteStopsOnSigint) { serve_and_stop("", SIGINT); }
TEST(Serve, Postgresql) { serve_and_stop(testutils::shared_postgres().create_database("serve_pg"), SIGTERM); }

// The month before `now`, as YYYY-MM-15 (a day safely inside it).
std::string engine_free_last_month(core::Instant now) {
  const auto t = std::chrono::floor<std::chrono::days>(now);
  const std::chrono::year_month_day ymd{std::chrono::sys_days(t)};
  const auto prev = std::chrono::year_month{ymd.year(), ymd.month()} - std::chrono::months(1);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-15", static_cast<int>(prev.year()), static_cast<unsigned>(prev.month()));
  return buf;
}

// A NOTIFY_SOCKET of our own: the datagrams pactwatch sends to systemd.
class NotifySocket {
 public:
  explicit NotifySocket(std::filesystem::path path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  ~NotifySocket() { ::close(fd_); }
  // Everything received so far, appended to what came before.
  const std::string& drain() {
    char buf[4096];
    while (true) {
      const auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      all_ += std::string(buf, static_cast<std::size_t>(n)) + "\n";
    }
    return all_;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::string all_;
};

TEST(Serve, PollsSourcesEvaluatesAndTalksToSystemd) {
  testutils::FakeHttp fake;
  fake.get("/api/v2/tickets", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"([{"id": 7, "status": 2, "priority": 4, "company_id": 4100, "created_at": "2026-10-05T08:00:00Z",
                         "updated_at": "2026-10-05T09:00:00Z", "stats": {"first_responded_at": "2026-10-05T08:20:00Z"}}])",
                    "application/json");
  });
  const int fake_port = fake.start();
  Daemon d("", "sources:\n  desk:\n    kind: freshdesk\n    url: http://127.0.0.1:" + std::to_string(fake_port) +
                   "\n    auth: {type: api_key, secret_file: SECRET}\n    poll_interval: 1s\n    since: 2026-10-01T00:00:00Z\n"
                   "evaluation:\n  full_interval: 10s\n");
  d.dir.write("rules/partners.yaml", "partners:\n  - {id: northwind, name: Northwind, kind: outsourcer, external_ids: {desk: 4100}}\n");
  const auto secret = d.dir.write("key", "abc\n");
  std::string cfg = testutils::read_file(d.config);
  cfg.replace(cfg.find("SECRET"), 6, secret.string());
  d.dir.write("pactwatch.yaml", cfg);
  NotifySocket notify(d.dir.path() / "notify.sock");
  testutils::Child child({"/usr/bin/env", "NOTIFY_SOCKET=" + notify.path().string(), "WATCHDOG_USEC=200000", kBinary, "serve",
                          "-c", d.config.string()});
  ASSERT_TRUE(d.wait_live(child)) << child.err();
  // Wait (on a condition, not a fixed sleep) for the source to be polled at least twice and the
  // ticket stored.
  const std::string db = "sqlite://" + (d.dir.path() / "var/pactwatch.db").string();
  bool stored = false;
  (void)testutils::eventually(
      [&] {
        notify.drain();  // as systemd would: a full socket queue would block the sender
        if (!stored) {
          if (auto s = store::Store::open({db, "", 1})) stored = (*s)->items().find("desk", "tickets", "7").has_value();
        }
        return stored && fake.count() >= 2;
      },
      10s, 50ms);
  EXPECT_TRUE(stored) << child.err();
  EXPECT_GE(fake.count(), 2u) << child.err();  // polled on its interval
  (void)testutils::eventually([&] { return notify.drain().find("WATCHDOG=1") != std::string::npos; }, 2s);
  const std::string messages = notify.drain();
  EXPECT_NE(messages.find("READY=1"), std::string::npos) << messages;
  EXPECT_NE(messages.find("STATUS="), std::string::npos) << messages;
  EXPECT_NE(messages.find("source(s) ok"), std::string::npos) << messages;
  EXPECT_NE(messages.find("WATCHDOG=1"), std::string::npos) << messages;
  child.signal(SIGTERM);
  auto code = child.wait(10s);
  ASSERT_TRUE(code.has_value()) << "did not stop within 10 s";
  EXPECT_EQ(*code, 0) << child.err();
  EXPECT_NE(notify.drain().find("STOPPING=1"), std::string::npos);
  EXPECT_NE(child.err().find("full evaluation"), std::string::npos) << child.err();
  fake.stop();
}

// The syncs an instance has run of a source, from its /metrics (-1 when it does not answer).
long syncs_of(int port, const std::string& source) {
  httplib::Client c("127.0.0.1", port);
  auto m = c.Get("/metrics");
  if (!m) return -1;
  const std::string key = "pactwatch_source_syncs_total{source=\"" + source + "\"} ";
  const auto at = m->body.find(key);
  if (at == std::string::npos) return 0;
  return std::stol(m->body.substr(at + key.size()));
}

// Two instances on one database: one polls the source while it holds the lease; when it dies
// (SIGKILL, no goodbye) the other takes the source over once the lease has run out.
TEST(Serve, TwoInstancesPollASourceOneAtATimeAndTakeOverOnDeath) {
  testutils::FakeHttp fake;
  fake.get("/api/v2/tickets", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"([{"id": 7, "status": 2, "priority": 4, "company_id": 4100, "created_at": "2026-10-05T08:00:00Z",
                         "updated_at": "2026-10-05T09:00:00Z", "stats": {"first_responded_at": "2026-10-05T08:20:00Z"}}])",
                    "application/json");
  });
  const int fake_port = fake.start();
  testutils::TempDir shared;
  const std::string db = "sqlite://" + (shared.path() / "shared.db").string();
  const auto secret = shared.write("key", "abc\n");
  auto make = [&](const std::string& name) {
    return std::make_unique<Daemon>(db, "sources:\n  desk:\n    kind: freshdesk\n    url: http://127.0.0.1:" + std::to_string(fake_port) +
                                            "\n    auth: {type: api_key, secret_file: " + secret.string() +
                                            "}\n    poll_interval: 1s\n    since: 2026-10-01T00:00:00Z\n"
                                            "cluster:\n  instance: " + name + "\n  lease_ttl: 3s\n");
  };
  auto a = make("alpha");
  auto b = make("beta");
  testutils::Child first({kBinary, "serve", "-c", a->config.string()});
  ASSERT_TRUE(a->wait_live(first)) << first.err();
  // alpha polls before beta starts, so alpha holds the lease.
  (void)testutils::eventually([&] { return syncs_of(a->port, "desk") >= 1; }, 5s, 50ms);
  ASSERT_GE(syncs_of(a->port, "desk"), 1) << first.err();
  testutils::Child second({kBinary, "serve", "-c", b->config.string()});
  ASSERT_TRUE(b->wait_live(second)) << second.err();
  std::this_thread::sleep_for(3500ms);  // on purpose: several poll intervals, more than one lease time, pass
  EXPECT_GE(syncs_of(a->port, "desk"), 3);
  EXPECT_EQ(syncs_of(b->port, "desk"), 0) << "one instance at a time: alpha renews its lease on every poll";
  first.signal(SIGKILL);
  (void)first.wait(5s);
  // beta takes over within the lease time (3 s) plus a poll interval.
  long taken = 0;
  (void)testutils::eventually([&] { return (taken = syncs_of(b->port, "desk")) >= 1; }, 6s, 50ms);
  EXPECT_GE(taken, 1) << second.err();
  auto s = store::Store::open({db, "", 1});
  ASSERT_TRUE(s);
  std::optional<store::LeaseRecord> desk;
  for (const auto& l : (*s)->leases().all()) {
    if (l.name == "source:desk") desk = l;
  }
  ASSERT_TRUE(desk);
  EXPECT_EQ(desk->holder, "beta");
  EXPECT_EQ(desk->fence, 2) << "handed over once";
  const auto shown = run({kBinary, "db", "leases", "-c", b->config.string()});
  EXPECT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_NE(shown.out.find("source:desk  beta  fence 2  until "), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("shard:0  beta"), std::string::npos) << shown.out;
  const auto plans = run({kBinary, "db", "explain", "-c", b->config.string()});
  EXPECT_EQ(plans.exit_code, 0) << plans.err;
  EXPECT_NE(plans.out.find("items of a partner-period (evaluation):\n    SEARCH items USING INDEX items_partner_kind_created_solved"),
            std::string::npos) << plans.out;
  second.signal(SIGTERM);
  EXPECT_EQ(second.wait(10s), 0);
  // A clean stop gives every lease back at once.
  const core::SystemClock clock;
  for (const auto& l : (*s)->leases().all()) EXPECT_TRUE(l.holder != "beta" || l.expires_at <= clock.now()) << l.name;
  fake.stop();
}

// Three instances on one PostgreSQL database, 24 partners in 16 shards. Batch 1 is imported
// before they start; while its notifications are being delivered, the instance holding the
// notification lease is killed with SIGKILL; batch 2 then arrives through a source. Afterwards:
// every partner-period is evaluated with all its items, the work log shows no shard worked by two
// instances at once (and nothing by the dead one after its death), and every outbox event reached
// the receiver: exactly once after deduplication by webhook-id, at least once overall.
TEST(Serve, ThreeInstancesShareTheWorkAndSurviveASigkill) {
  constexpr int kCount = 24;
  const core::SystemClock clock;
  const std::string last_month = engine_free_last_month(clock.now());
  const std::string db_url = testutils::shared_postgres().create_database("three_instances");

  // The receiver: holds requests until opened, then takes 100 ms each; records every webhook-id.
  std::mutex mutex;
  std::vector<std::string> received;
  std::atomic<bool> open{false};
  testutils::FakeHttp rx;  // after what its handler uses, so that it stops first
  rx.post("/hook", [&](const httplib::Request& req, httplib::Response& res) {
    (void)testutils::eventually([&] { return open.load(); }, 5s, 10ms);
    std::this_thread::sleep_for(100ms);  // a slow receiver on purpose: the kill lands while deliveries are under way
    std::lock_guard lock(mutex);
    received.push_back(req.get_header_value("webhook-id"));
    res.status = 200;
  });
  const int rx_port = rx.start();

  // The source: empty until batch 2 is released; then four slow replies for each odd partner.
  std::atomic<bool> batch2{false};
  testutils::FakeHttp desk;
  desk.get("/api/v2/tickets", [&](const httplib::Request&, httplib::Response& res) {
    nlohmann::json page = nlohmann::json::array();
    if (batch2) {
      for (int p = 1; p <= kCount; p += 2) {
        for (int k = 0; k < 4; ++k) {
          page.push_back({{"id", 1000 + p * 10 + k}, {"status", 2}, {"priority", 2}, {"company_id", 5000 + p},
                          {"created_at", last_month + "T09:00:00Z"}, {"updated_at", last_month + "T13:00:00Z"},
                          {"stats", {{"first_responded_at", last_month + "T12:00:00Z"}}}});
        }
      }
    }
    res.set_content(page.dump(), "application/json");
  });
  const int desk_port = desk.start();

  testutils::TempDir shared;
  const auto key = shared.write("desk.key", "abc\n");
  const auto hook_secret = shared.write("hook.secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n");
  std::string partners = "partners:\n";
  for (int p = 0; p < kCount; ++p) {
    partners += "  - {id: p" + std::to_string(p) + ", name: Partner " + std::to_string(p) +
                ", kind: outsourcer, external_ids: {desk: " + std::to_string(5000 + p) + "}}\n";
  }
  std::string batch1;
  for (int p = 0; p < kCount; ++p) {
    for (int k = 0; k < 2; ++k) {
      // Even partners reply after three hours (breached), odd ones after ten minutes (met).
      batch1 += "{\"id\": \"b1-" + std::to_string(p) + "-" + std::to_string(k) + "\", \"partner\": \"p" + std::to_string(p) +
                "\", \"created_at\": \"" + last_month + "T08:00:00Z\", \"agent_replies\": [\"" + last_month +
                (p % 2 == 0 ? "T11:00:00Z" : "T08:10:00Z") + "\"]}\n";
    }
  }
  const std::vector<std::string> names{"alpha", "beta", "gamma"};
  std::vector<std::unique_ptr<Daemon>> daemons;
  for (const auto& name : names) {
    auto d = std::make_unique<Daemon>(
        db_url, "sources:\n  desk:\n    kind: freshdesk\n    url: http://127.0.0.1:" + std::to_string(desk_port) +
                    "\n    auth: {type: api_key, secret_file: " + key.string() +
                    "}\n    poll_interval: 1s\n    since: 2000-01-01T00:00:00Z\n"
                    "notify:\n  channels:\n    ops:\n      type: webhook\n      url: http://127.0.0.1:" + std::to_string(rx_port) +
                    "/hook\n      secret_file: " + hook_secret.string() + "\n"
                    "cluster:\n  instance: " + name + "\n  lease_ttl: 3s\n  shards: 16\n"
                    "evaluation:\n  full_interval: 10s\n");
    d->dir.write("rules/partners.yaml", partners);
    for (int p = 0; p < kCount; ++p) {
      d->dir.write("rules/contracts/p" + std::to_string(p) + ".yaml",
                   "contract: c" + std::to_string(p) + "\nversion: 1\npartner: p" + std::to_string(p) +
                       "\neffective: {from: 2020-01-01}\ncurrency: EUR\ncalendar: 24x7\n"
                       "kpis:\n  - {id: reply, source: tickets, measure: {ratio: first_reply <= 1h}, objective: {target: \">= 90%\"}, "
                       "min_sample: 1}\n");
    }
    daemons.push_back(std::move(d));
  }
  const auto items = shared.write("batch1.ndjson", batch1);
  ASSERT_EQ(run({kBinary, "db", "migrate", "-c", daemons[0]->config.string()}).exit_code, 0);
  const auto imported = run({kBinary, "import", "tickets", items.string(), "-c", daemons[0]->config.string()});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;

  std::vector<std::unique_ptr<testutils::Child>> children;
  for (const auto& d : daemons) children.push_back(std::make_unique<testutils::Child>(std::vector<std::string>{kBinary, "serve", "-c", d->config.string()}));
  for (std::size_t i = 0; i < daemons.size(); ++i) ASSERT_TRUE(daemons[i]->wait_live(*children[i])) << children[i]->err();
  auto db = store::Store::open({db_url, "", 1});
  ASSERT_TRUE(db);
  auto holders = [&] {
    std::map<std::string, std::string> out;  // lease -> holder, unexpired
    for (const auto& l : (*db)->leases().all()) {
      if (l.expires_at > clock.now()) out[l.name] = l.holder;
    }
    return out;
  };
  // Wait until every instance has its share of the shards.
  auto shares = [&] {
    std::map<std::string, int> n;
    for (const auto& [lease, holder] : holders()) {
      if (lease.starts_with("shard:")) ++n[holder];
    }
    return n;
  };
  (void)testutils::eventually([&] { return shares().size() >= 3; }, 10s, 50ms);
  ASSERT_EQ(shares().size(), 3u) << "every instance takes shards";

  // Open the receiver; once deliveries are under way, kill the instance delivering them.
  open = true;
  (void)testutils::eventually(
      [&] {
        std::lock_guard lock(mutex);
        return received.size() >= 3;
      },
      4s);
  const auto notify_holder = holders()["notify"];
  ASSERT_FALSE(notify_holder.empty());
  const std::size_t victim = static_cast<std::size_t>(std::find(names.begin(), names.end(), notify_holder) - names.begin());
  ASSERT_LT(victim, names.size());
  children[victim]->signal(SIGKILL);
  (void)children[victim]->wait(5s);
  const auto killed_at = clock.now();
  batch2 = true;

  // The survivors take everything over and finish the work.
  auto done = [&] {
    const auto h = holders();
    int shards = 0;
    for (const auto& [lease, holder] : h) {
      if (lease.starts_with("shard:") && holder != notify_holder) ++shards;
    }
    if (shards != 16) return false;
    const auto events = (*db)->outbox().events();
    if (events.size() < kCount) return false;
    std::set<std::string> got;
    {
      std::lock_guard lock(mutex);
      got.insert(received.begin(), received.end());
    }
    for (const auto& e : events) {
      if (!got.contains(e.id)) return false;
    }
    return true;
  };
  const bool finished = testutils::eventually(done, 60s, 100ms);
  const auto survivors_log = [&] {
    std::string all;
    for (std::size_t i = 0; i < children.size(); ++i) {
      if (i != victim) all += "--- " + names[i] + "\n" + children[i]->err();
    }
    return all;
  };
  EXPECT_TRUE(finished) << survivors_log();

  // Every partner-period evaluated, with every item: 2 tickets, and 4 more for odd partners.
  for (int p = 0; p < kCount; ++p) {
    const auto doc = (*db)->evaluations().document("c" + std::to_string(p), 1, last_month.substr(0, 7));
    ASSERT_TRUE(doc) << "p" << p;
    EXPECT_EQ(nlohmann::json::parse(*doc)["input"]["items"], p % 2 == 0 ? 2 : 6) << "p" << p;
  }
  // Notifications: every event reached the receiver (exactly once after deduplication by id; at
  // least once overall), and nothing the outbox does not hold.
  const auto events = (*db)->outbox().events();
  EXPECT_EQ(events.size(), static_cast<std::size_t>(kCount)) << "one breach per partner: even ones by batch 1, odd ones by batch 2";
  std::set<std::string> ids;
  for (const auto& e : events) ids.insert(e.id);
  std::map<std::string, int> copies;
  {
    std::lock_guard lock(mutex);
    for (const auto& id : received) ++copies[id];
  }
  for (const auto& id : ids) EXPECT_GE(copies[id], 1) << id;
  for (const auto& [id, n] : copies) EXPECT_TRUE(ids.contains(id)) << "unknown event " << id;
  int redelivered = 0;
  for (const auto& [id, n] : copies) redelivered += n - 1;
  std::cerr << "three instances: " << events.size() << " events, " << redelivered << " delivered again after the kill of "
            << notify_holder << "\n";
  // The ownership log: per shard, no two holders' work overlaps in time, fences only grow, and the
  // dead instance stored nothing after its death.
  int handovers = 0;
  const auto by_shard = testutils::expect_no_overlapping_work((*db)->queue().work_log(), handovers);
  EXPECT_GE(by_shard.size(), 10u) << "24 partners fall into most of the 16 shards";
  for (const auto& [lease, entries] : by_shard) {
    for (const auto& w : entries) {
      if (w.holder == notify_holder) {
        EXPECT_LE(w.finished_at, killed_at) << lease;
      }
    }
  }
  EXPECT_GE(handovers, 1) << "shards changed hands (rebalancing, the takeover)";
  // Batch 2 came in through whichever instance polls the source; the other owner evaluated its
  // partners from the queue.
  EXPECT_NE(survivors_log().find("other instances asked for"), std::string::npos) << survivors_log();
  std::cerr << "three instances: " << handovers << " shard handover(s) in the work log\n";
  // Any instance answers any request: the same standing from each survivor (the contracts are
  // drafts, which a viewer sees and a partner would not).
  const auto created = run({kBinary, "token", "create", "--role", "viewer", "-c", daemons[0]->config.string()});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const std::string token = created.out.substr(0, created.out.find('\n'));
  std::vector<std::string> answers;
  for (std::size_t i = 0; i < children.size(); ++i) {
    if (i == victim) continue;
    httplib::Client api("127.0.0.1", daemons[i]->port);
    auto r = api.Get("/v1/partners/p3/kpis?period=" + last_month.substr(0, 7), {{"Authorization", "Bearer " + token}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    answers.push_back(r->body);
  }
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0], answers[1]);
  EXPECT_NE(answers[0].find("\"breached\""), std::string::npos) << answers[0];
  for (std::size_t i = 0; i < children.size(); ++i) {
    if (i == victim) continue;
    children[i]->signal(SIGTERM);
    EXPECT_EQ(children[i]->wait(10s), 0) << children[i]->err();
  }
  rx.stop();
  desk.stop();
}

// PostgreSQL restarts under a running daemon: it keeps running, answers not-ready meanwhile, and
// resumes by itself; a record the source offers during the outage is stored once it is back.
TEST(Serve, RidesOutAPostgresqlRestart) {
  testutils::PostgresServer pg;  // its own server: stopping it disturbs no other test
  const std::string db_url = pg.create_database("restart");
  std::atomic<int> offered{1};
  testutils::FakeHttp desk;
  desk.get("/api/v2/tickets", [&](const httplib::Request&, httplib::Response& res) {
    nlohmann::json page = nlohmann::json::array();
    for (int i = 1; i <= offered; ++i) {
      page.push_back({{"id", i}, {"status", 2}, {"priority", 2}, {"company_id", 4100}, {"created_at", "2026-10-05T08:00:00Z"},
                      {"updated_at", "2026-10-05T09:00:00Z"}, {"stats", {{"first_responded_at", "2026-10-05T08:20:00Z"}}}});
    }
    res.set_content(page.dump(), "application/json");
  });
  const int desk_port = desk.start();
  Daemon d(db_url, "sources:\n  desk:\n    kind: freshdesk\n    url: http://127.0.0.1:" + std::to_string(desk_port) +
                       "\n    auth: {type: api_key, secret_file: KEY}\n    poll_interval: 1s\n    since: 2026-10-01T00:00:00Z\n");
  std::string cfg = testutils::read_file(d.config);
  cfg.insert(cfg.find("\nrules_dir:"), "\n  statement_timeout: 5s");  // in the database block, after its url
  cfg.replace(cfg.find("KEY"), 3, d.dir.write("key", "abc\n").string());
  d.dir.write("pactwatch.yaml", cfg);
  d.dir.write("rules/partners.yaml", "partners:\n  - {id: northwind, name: Northwind, kind: outsourcer, external_ids: {desk: 4100}}\n");
  testutils::Child child({kBinary, "serve", "-c", d.config.string()});
  ASSERT_TRUE(d.wait_live(child)) << child.err();
  httplib::Client c("127.0.0.1", d.port);
  auto ready = [&] {
    auto r = c.Get("/readyz");
    return r ? r->status : -1;
  };
  auto stored = [&](const std::string& id) {
    auto s = store::Store::open({db_url, "", 1});
    return s && (*s)->items().find("desk", "tickets", id).has_value();
  };
  (void)testutils::eventually([&] { return stored("1"); }, 5s, 50ms);
  ASSERT_TRUE(stored("1")) << child.err();
  EXPECT_EQ(ready(), 200);

  pg.stop();
  offered = 2;
  int status = 0;
  (void)testutils::eventually([&] { return (status = ready()) == 503; }, 5s, 50ms);
  EXPECT_EQ(status, 503) << "not ready while the database is away";
  std::this_thread::sleep_for(1500ms);  // on purpose: polls and heartbeats fail meanwhile
  EXPECT_FALSE(child.wait(0ms).has_value()) << "the daemon keeps running: " << child.err();

  pg.start();
  (void)testutils::eventually([&] { return (status = ready()) == 200; }, 10s, 50ms);
  EXPECT_EQ(status, 200) << child.err();
  const bool resumed = testutils::eventually([&] { return stored("2"); }, 10s, 50ms);
  EXPECT_TRUE(resumed) << "the record offered during the outage is stored once the database is back\n" << child.err();
  EXPECT_NE(child.err().find("unreachable"), std::string::npos) << child.err();
  child.signal(SIGTERM);
  EXPECT_EQ(child.wait(10s), 0) << child.err();
  desk.stop();
}

TEST(Serve, SighupReloadsTheConfigOrKeepsTheOneInForce) {
  testutils::FakeHttp fake;
  fake.get("/api/v2/tickets", [&](const httplib::Request&, httplib::Response& res) { res.set_content("[]", "application/json"); });
  const int fake_port = fake.start();
  Daemon d;
  testutils::Child child({kBinary, "serve", "-c", d.config.string()});
  ASSERT_TRUE(d.wait_live(child)) << child.err();
  // A broken config: nothing changes.
  const std::string good = testutils::read_file(d.config);
  d.dir.write("pactwatch.yaml", good + "sources: [not a mapping]\n");
  child.signal(SIGHUP);
  (void)testutils::eventually([&] { return child.err().find("keeping the config and the rules in force") != std::string::npos; }, 4s);
  EXPECT_NE(child.err().find("keeping the config and the rules in force"), std::string::npos) << child.err();
  // A new source: polled once the config is reloaded.
  const auto key = d.dir.write("key", "abc\n");
  d.dir.write("pactwatch.yaml", good + "sources:\n  desk:\n    kind: freshdesk\n    url: http://127.0.0.1:" + std::to_string(fake_port) +
                                    "\n    auth: {type: api_key, secret_file: " + key.string() + "}\n    poll_interval: 1s\n");
  child.signal(SIGHUP);
  (void)testutils::eventually([&] { return fake.count() > 0; }, 5s);
  EXPECT_GT(fake.count(), 0u) << child.err();
  EXPECT_NE(child.err().find("config reloaded: 1 source(s)"), std::string::npos) << child.err();
  // The shards stay with the instance across the reload, and are evaluated at once under it.
  (void)testutils::eventually([&] { return child.err().find("full evaluation: ") != std::string::npos; }, 5s);
  EXPECT_NE(child.err().find("full evaluation: "), std::string::npos) << child.err();
  child.signal(SIGTERM);
  EXPECT_EQ(child.wait(10s), 0);
  fake.stop();
}

TEST(Serve, DeliversSignedWebhooksAtLeastOnceThroughAnOutage) {
  // A receiver that is down for its first request, then up; it records what it gets.
  std::mutex mutex;
  std::vector<std::tuple<std::string, std::string, std::string, std::string>> got;  // id, timestamp, signature, body
  int calls = 0;
  testutils::FakeHttp rx;  // after what its handler uses, so that it stops first
  rx.post("/hook", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex);
    res.status = calls++ == 0 ? 503 : 200;
    got.emplace_back(req.get_header_value("webhook-id"), req.get_header_value("webhook-timestamp"),
                     req.get_header_value("webhook-signature"), req.body);
  });
  const int rx_port = rx.start();
  Daemon d("", "notify:\n  channels:\n    ops:\n      type: webhook\n      url: http://127.0.0.1:" + std::to_string(rx_port) +
                   "/hook\n      secret_file: SECRET\n      events: [kpi.breached]\n");
  const std::string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  const auto secret_file = d.dir.write("hook.secret", secret + "\n");
  std::string cfg = testutils::read_file(d.config);
  cfg.replace(cfg.find("SECRET"), 6, secret_file.string());
  d.dir.write("pactwatch.yaml", cfg);
  // A contract with one KPI, breached by last month's tickets.
  d.dir.write("rules/partners.yaml", "partners:\n  - {id: acme, name: Acme, kind: outsourcer}\n");
  d.dir.write("rules/contracts/acme.yaml",
              "contract: acme-desk\nversion: 1\npartner: acme\neffective: {from: 2026-01-01}\ncurrency: EUR\ncalendar: 24x7\n"
              "kpis:\n  - {id: p1, source: tickets, measure: {ratio: first_reply <= 1h}, objective: {target: \">= 90%\"}, min_sample: 1}\n");
  const core::SystemClock clock;
  const auto last_month = engine_free_last_month(clock.now());
  auto items = d.dir.write("t.ndjson", "{\"id\": \"s1\", \"partner\": \"acme\", \"created_at\": \"" + last_month +
                                           "T08:00:00Z\", \"agent_replies\": [\"" + last_month + "T11:00:00Z\"]}\n");
  ASSERT_EQ(run({kBinary, "import", "tickets", items.string(), "-c", d.config.string()}).exit_code, 0);
  testutils::Child child({kBinary, "serve", "-c", d.config.string()});
  ASSERT_TRUE(d.wait_live(child)) << child.err();
  // The first delivery fails; the retry comes 5 s later, with the same id.
  (void)testutils::eventually(
      [&] {
        std::lock_guard lock(mutex);
        return got.size() >= 2;
      },
      12s);
  child.signal(SIGTERM);
  EXPECT_EQ(child.wait(10s), 0);
  rx.stop();
  std::lock_guard lock(mutex);
  ASSERT_GE(got.size(), 2u) << child.err();
  EXPECT_EQ(std::get<0>(got[0]), std::get<0>(got[1]));  // at least once, one stable id
  const auto& [id, ts, sig, body] = got[1];
  EXPECT_EQ(nlohmann::json::parse(body)["type"], "pactwatch.kpi.breached");
  auto py = run({"/usr/bin/python3", "-c",
                 "import base64,hashlib,hmac,sys\n"
                 "key = base64.b64decode(sys.argv[1].split('_', 1)[1])\n"
                 "print('v1,' + base64.b64encode(hmac.new(key, (sys.argv[2] + '.' + sys.argv[3] + '.' + sys.argv[4]).encode(), hashlib.sha256).digest()).decode())",
                 secret, id, ts, body});
  EXPECT_EQ(sig + "\n", py.out);
  auto outbox = run({kBinary, "outbox", "list", "-c", d.config.string()});
  EXPECT_NE(outbox.out.find("ops: delivered, 2 attempt(s)"), std::string::npos) << outbox.out;
}

TEST(Serve, SighupWithBrokenRulesKeepsTheRulesInForce) {
  Daemon d("", "log:\n  format: json\n");
  testutils::Child child({kBinary, "serve", "-c", d.config.string()});
  ASSERT_TRUE(d.wait_live(child)) << child.err();
  d.dir.write("rules/partners.yaml", "partners: [oops\n");
  child.signal(SIGHUP);
  (void)testutils::eventually([&] { return child.err().find("keeping the config and the rules in force") != std::string::npos; }, 4s);
  httplib::Client c("127.0.0.1", d.port);
  auto ready = c.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  child.signal(SIGTERM);
  ASSERT_EQ(child.wait(10s), 0);
  // Every log line is one JSON object with a level and a message.
  std::istringstream lines(child.err());
  std::string line;
  int n = 0;
  bool saw_keep = false;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);
    EXPECT_TRUE(j.contains("ts") && j.contains("level") && j.contains("msg")) << line;
    saw_keep = saw_keep || j["msg"].get<std::string>().find("keeping the config and the rules in force") != std::string::npos;
    ++n;
  }
  EXPECT_GT(n, 3);
  EXPECT_TRUE(saw_keep) << child.err();
}

TEST(Serve, FailsClearlyWhenThePortIsTaken) {
  Daemon d;
  httplib::Server blocker;
  ASSERT_TRUE(blocker.bind_to_port("127.0.0.1", d.port));
  auto r = run({kBinary, "serve", "-c", d.config.string()}, 20s);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot listen on 127.0.0.1:" + std::to_string(d.port)), std::string::npos) << r.err;
}

TEST(Serve, FailsClearlyOnInvalidRulesAtStart) {
  Daemon d;
  d.dir.write("rules/partners.yaml", "partners:\n  - {id: BAD, name: X, kind: var}\n");
  auto r = run({kBinary, "serve", "-c", d.config.string()}, 20s);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("id must be a slug"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace pactwatch
