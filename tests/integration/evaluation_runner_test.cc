// Incremental re-evaluation gives the same stored results as a full evaluation, on SQLite and on
// a real PostgreSQL, over a generated data set.
#include <gtest/gtest.h>

#include <atomic>

#include "pactwatch/app/cluster.h"
#include "pactwatch/app/evaluation_runner.h"
#include "pactwatch/core/diagnostic.h"
#include "pactwatch/engine/evaluate.h"
#include "pactwatch/sources/generate.h"
#include "pactwatch/sources/import.h"
#include "pg_server.h"
#include "test_store.h"
#include "temp_dir.h"

namespace pactwatch::app {
namespace {

using store::Backend;
core::Instant T(const char* s) { return *core::parse_rfc3339(s); }

class EvaluationRunnerTest : public ::testing::TestWithParam<Backend> {
 protected:
  std::unique_ptr<store::Store> fresh_store(const std::string& name) {
    return testutils::fresh_store(GetParam(), dir_, "runner_" + name, T("2026-01-01T00:00:00Z"));
  }

  testutils::TempDir dir_;
};

std::vector<store::Item> load(const std::filesystem::path& file, const char* kind, const rules::RuleSet& rules) {
  sources::ImportOptions o;
  o.kind = kind;
  o.source = "gen";
  auto parsed = sources::parse_import(*core::read_file(file), file.string(), o, rules.partners);
  EXPECT_TRUE(parsed.bad_lines.empty());
  return parsed.items;
}

TEST_P(EvaluationRunnerTest, IncrementalEqualsFull) {
  ASSERT_TRUE(sources::generate(dir_.path() / "gen", {25, 4000, 7, 2026}));
  auto rules = rules::load_rule_set(dir_.path() / "gen/rules");
  ASSERT_TRUE(rules) << rules.error()[0].to_string();
  auto base = load(dir_.path() / "gen/tickets.ndjson", "tickets", *rules);
  auto surveys = load(dir_.path() / "gen/surveys.ndjson", "surveys", *rules);
  base.insert(base.end(), surveys.begin(), surveys.end());

  // Changes: some tickets move to urgent or get solved later, a few are new, all newer versions.
  std::vector<store::Item> changed;
  for (std::size_t i = 0; i < base.size(); i += 97) {
    store::Item c = base[i];
    if (c.kind != "tickets") continue;
    c.priority = "urgent";
    if (c.solved_at) c.solved_at = *c.solved_at + std::chrono::hours(30);
    c.updated_at = c.updated_at + std::chrono::hours(48);
    changed.push_back(c);
  }
  for (int i = 0; i < 10; ++i) {
    store::Item n = base[static_cast<std::size_t>(i) * 13];
    n.external_id = "new-" + std::to_string(i);
    changed.push_back(n);
  }
  const core::Instant as_of = T("2026-06-20T12:00:00Z");
  const core::Instant now = T("2026-06-20T12:00:05Z");

  auto incremental = fresh_store("incremental");
  incremental->items().upsert(base);
  EvaluationRunner inc(*rules, *incremental);
  const auto full_stats = inc.run_full(as_of, now);
  EXPECT_EQ(full_stats.evaluations, 50);  // 25 partners, the current period and the one before
  std::vector<store::Item> previous;
  for (const auto& c : changed) {
    if (auto old = incremental->items().find(c.source, c.kind, c.external_id)) previous.push_back(*old);
  }
  EXPECT_GT(previous.size(), 0u);
  incremental->items().upsert(changed);
  const auto inc_stats = inc.run_incremental(changed, previous, as_of, now);
  EXPECT_GT(inc_stats.evaluations, 0);

  auto full = fresh_store("full");
  full->items().upsert(base);
  full->items().upsert(changed);
  EvaluationRunner fr(*rules, *full);
  fr.run_full(as_of, now);

  // Every current-period evaluation is byte-identical; so is every earlier period the incremental
  // run re-evaluated, against a full evaluation of that period.
  int compared = 0;
  for (const auto& c : rules->contracts) {
    const auto& cal = rules->calendars.at(c.calendar);
    const auto window = engine::period_containing(c, cal, as_of);
    auto a = incremental->evaluations().document(c.contract, c.version, window->label);
    auto b = full->evaluations().document(c.contract, c.version, window->label);
    ASSERT_TRUE(a && b) << c.contract;
    EXPECT_EQ(*a, *b) << c.contract;
    ++compared;
    for (const char* label : {"2026-01", "2026-02", "2026-03", "2026-04", "2026-05"}) {
      auto past = incremental->evaluations().document(c.contract, c.version, label);
      if (!past) continue;
      const auto items = full->items().of_partner(c.partner);
      const auto w = engine::period_by_label(c, cal, label);
      EXPECT_EQ(*past, engine::evaluate_contract(c, cal, items, *w, as_of).dump()) << c.contract << " " << label;
      ++compared;
    }
  }
  EXPECT_GT(compared, 25);
  // The first run recorded every rule's first status; later changes only where a status moved.
  EXPECT_GE(incremental->evaluations().status_changes().size(), static_cast<std::size_t>(25 * 6));
}

// The memory budget decides only what stays in memory between runs and how a run is batched:
// with none (a period at a time, nothing kept), a small one (batches end early, the least
// recently used periods are evicted and read afresh) and the default, the stored documents and
// the recorded status changes are the same after a full and an incremental run.
TEST_P(EvaluationRunnerTest, TheMemoryBudgetChangesNothingStored) {
  ASSERT_TRUE(sources::generate(dir_.path() / "gen", {12, 3000, 11, 2026}));
  auto rules = rules::load_rule_set(dir_.path() / "gen/rules");
  ASSERT_TRUE(rules) << rules.error()[0].to_string();
  auto base = load(dir_.path() / "gen/tickets.ndjson", "tickets", *rules);
  auto surveys = load(dir_.path() / "gen/surveys.ndjson", "surveys", *rules);
  base.insert(base.end(), surveys.begin(), surveys.end());
  std::vector<store::Item> changed, previous;
  for (std::size_t i = 0; i < base.size(); i += 41) {
    if (base[i].kind != "tickets") continue;
    previous.push_back(base[i]);
    store::Item c = base[i];
    c.priority = c.priority == "urgent" ? "low" : "urgent";
    c.updated_at = c.updated_at + std::chrono::hours(2);
    changed.push_back(c);
  }
  const core::Instant as_of = T("2026-06-20T12:00:00Z");
  struct Outcome {
    std::vector<std::string> documents;
    std::vector<std::string> changes;
    std::size_t kept_after_full = 0, kept_bytes = 0;
  };
  auto run_with = [&](std::size_t budget, const std::string& name, bool keep = true) {
    auto db = fresh_store(name);
    db->items().upsert(base);
    EvaluationRunner runner(*rules, *db);
    runner.set_memory_budget(budget);
    runner.set_keep_prepared(keep);
    Outcome o;
    EXPECT_EQ(runner.run_full(as_of, as_of).evaluations, 24);  // 12 partners, two periods each
    o.kept_after_full = runner.kept_periods();
    EXPECT_LE(runner.kept_bytes(), budget);
    db->items().upsert(changed);
    EXPECT_GT(runner.run_incremental(changed, previous, as_of, as_of + std::chrono::minutes(1)).evaluations, 0);
    EXPECT_LE(runner.kept_bytes(), budget);
    o.kept_bytes = runner.kept_bytes();
    for (const auto& c : rules->contracts) {
      for (const char* label : {"2026-05", "2026-06"}) o.documents.push_back(db->evaluations().document(c.contract, c.version, label).value_or(""));
    }
    for (const auto& ch : db->evaluations().status_changes()) {
      o.changes.push_back(ch.contract + " " + ch.period + " " + ch.rule + " " + ch.from.value_or("-") + " " + ch.to + " " +
                          core::format_rfc3339(ch.at));
    }
    return o;
  };
  const auto all = run_with(EvaluationRunner::kDefaultMemoryBudget, "budget_default");
  EXPECT_EQ(all.kept_after_full, 24u);  // everything fits the default
  const auto none = run_with(0, "budget_none");
  EXPECT_EQ(none.kept_after_full, 0u);
  EXPECT_EQ(none.kept_bytes, 0u);
  // A third of what keeping everything takes: some are kept, some evicted.
  const auto small = run_with(all.kept_bytes / 3, "budget_small");
  EXPECT_GT(small.kept_after_full, 0u);
  EXPECT_LT(small.kept_after_full, 24u);
  // As serve runs it: batches within the budget, nothing kept after them.
  const auto serve_like = run_with(EvaluationRunner::kDefaultMemoryBudget, "budget_not_kept", false);
  EXPECT_EQ(serve_like.kept_after_full, 0u);
  for (const auto* o : {&none, &small, &serve_like}) {
    EXPECT_EQ(o->documents, all.documents);
    EXPECT_EQ(o->changes, all.changes);
  }
  EXPECT_FALSE(all.changes.empty());
  for (const auto& d : all.documents) EXPECT_FALSE(d.empty());
}

// Every period an item can count in is re-evaluated: an open ticket created in November that is
// solved in December (known from its history only) and then reopened moves in and out of
// December's resolution KPI, and the stored documents stay equal to fresh full evaluations.
TEST_P(EvaluationRunnerTest, IncrementalFollowsAnItemIntoEveryPeriodItCountsIn) {
  dir_.write("rules/partners.yaml", "partners:\n  - {id: nw, name: Northwind, kind: outsourcer}\n");
  dir_.write("rules/contracts/nw.yaml",
             "contract: nw-support\nversion: 1\npartner: nw\neffective: {from: 2026-01-01}\ncurrency: EUR\n"
             "calendar: 24x7\nperiod: month\nkpis:\n"
             "  - {id: reply, source: tickets, measure: {ratio: first_reply <= 1h}, objective: {target: \">= 50%\"}}\n"
             "  - id: resolution\n    source: tickets\n    counted_by: solved\n    measure: {percentile: 90, of: resolution}\n"
             "    objective: {target: \"<= 30d\"}\n");
  auto rules = rules::load_rule_set(dir_.path() / "rules");
  ASSERT_TRUE(rules) << rules.error()[0].to_string();
  auto ticket = [](const char* id, const char* created, std::string history, int version) {
    store::Item i;
    i.source = "desk";
    i.external_id = id;
    i.kind = "tickets";
    i.partner_id = "nw";
    i.created_at = T(created);
    i.updated_at = T(created) + std::chrono::minutes(version);
    i.payload = "{\"status_history\":[" + history + "]}";
    return i;
  };
  const core::Instant as_of = T("2026-12-15T00:00:00Z"), now = as_of;
  auto db = fresh_store("periods");
  EvaluationRunner runner(*rules, *db);
  runner.run_full(as_of, now);
  const auto& c = rules->contracts.front();
  const auto& cal = rules->calendars.at(c.calendar);
  auto check = [&](const std::string& step) {
    for (const char* label : {"2026-11", "2026-12"}) {
      const auto stored = db->evaluations().document(c.contract, c.version, label);
      ASSERT_TRUE(stored) << step << " " << label;
      EXPECT_EQ(*stored, engine::evaluate_contract(c, cal, db->items().of_partner("nw"), *engine::period_by_label(c, cal, label), as_of).dump())
          << step << " " << label;
    }
  };
  auto apply = [&](std::vector<store::Item> changed) {
    std::vector<store::Item> previous;
    for (const auto& i : changed) {
      if (auto old = db->items().find(i.source, i.kind, i.external_id)) previous.push_back(*old);
    }
    db->items().upsert(changed);
    runner.run_incremental(changed, previous, as_of, now);
  };
  apply({ticket("T1", "2026-12-01T08:00:00Z", R"({"at":"2026-12-01T08:00:00Z","status":"open"})", 0)});
  check("a December ticket");
  const std::string opened = R"({"at":"2026-11-20T08:00:00Z","status":"open"})";
  apply({ticket("T2", "2026-11-20T08:00:00Z", opened, 0)});
  check("a November ticket still open");
  apply({ticket("T2", "2026-11-20T08:00:00Z", opened + R"(,{"at":"2026-12-02T08:00:00Z","status":"solved"})", 1)});
  check("solved in December");
  EXPECT_NE(db->evaluations().document(c.contract, c.version, "2026-12")->find("\"sample\":1"), std::string::npos);
  apply({ticket("T2", "2026-11-20T08:00:00Z",
                opened + R"(,{"at":"2026-12-02T08:00:00Z","status":"solved"},{"at":"2026-12-10T08:00:00Z","status":"open"})", 2)});
  check("reopened");
}

TEST_P(EvaluationRunnerTest, IncrementalTouchesOnlyAffectedPartnerPeriods) {
  ASSERT_TRUE(sources::generate(dir_.path() / "gen", {10, 500, 3, 2026}));
  auto rules = rules::load_rule_set(dir_.path() / "gen/rules");
  ASSERT_TRUE(rules);
  auto base = load(dir_.path() / "gen/tickets.ndjson", "tickets", *rules);
  auto db = fresh_store("touch");
  db->items().upsert(base);
  EvaluationRunner runner(*rules, *db);
  store::Item one = base.front();
  one.updated_at = one.updated_at + std::chrono::hours(1);
  db->items().upsert(std::vector<store::Item>{one});
  const auto stats = runner.run_incremental(std::vector<store::Item>{one}, {}, T("2026-11-01T00:00:00Z"), T("2026-11-01T00:00:00Z"));
  // One ticket counts in at most two months (created, solved): at most two evaluations.
  EXPECT_GE(stats.evaluations, 1);
  EXPECT_LE(stats.evaluations, 2);
  // Items of no partner affect nothing.
  store::Item orphan = one;
  orphan.partner_id.reset();
  EXPECT_EQ(runner.run_incremental(std::vector<store::Item>{orphan}, {}, T("2026-11-01T00:00:00Z"), T("2026-11-01T00:00:00Z")).evaluations, 0);
}

// Who holds which shard, from the leases table: each shard at most once, by construction of the
// table (one row per lease); checked against every instance's own view.
std::map<int, std::string> shard_holders(store::Store& db, core::Instant now) {
  std::map<int, std::string> out;
  for (const auto& l : db.leases().all()) {
    if (l.name.starts_with("shard:") && l.expires_at > now) out[std::stoi(l.name.substr(6))] = l.holder;
  }
  return out;
}

TEST_P(EvaluationRunnerTest, ShardsAreDividedFairlyAndTakenOverWhenAnInstanceDies) {
  auto db = fresh_store("cluster");
  const auto ttl = std::chrono::milliseconds(30'000);
  std::vector<std::unique_ptr<Cluster>> members;
  core::ManualClock clock(T("2026-06-01T00:00:00Z"));
  for (const char* name : {"a", "b", "c"}) members.push_back(std::make_unique<Cluster>(*db, name, 16, ttl, clock));
  core::Instant now = clock.now();
  auto round = [&](std::size_t alive) {
    for (std::size_t i = 0; i < alive; ++i) (void)members[i]->heartbeat();
    clock.advance(std::chrono::seconds(10));  // a third of the lease time, as serve does
    now = clock.now();
  };
  // Every instance's view agrees with the table, and no shard is in two views.
  auto check_views = [&](std::size_t alive) {
    const auto holders = shard_holders(*db, now);
    std::map<int, int> seen;
    for (std::size_t i = 0; i < alive; ++i) {
      for (int s : members[i]->owned(now)) {
        ++seen[s];
        EXPECT_EQ(holders.at(s), members[i]->instance()) << "shard " << s;
      }
    }
    for (const auto& [s, n] : seen) EXPECT_EQ(n, 1) << "shard " << s << " held twice";
    return seen.size();
  };
  round(1);
  EXPECT_EQ(members[0]->owned(now).size(), 16u) << "alone, a takes every shard";
  for (int i = 0; i < 4; ++i) {
    round(3);
    check_views(3);
  }
  // Three live instances: shares of at most ceil(16/3) = 6, every shard covered.
  EXPECT_EQ(check_views(3), 16u);
  for (const auto& m : members) EXPECT_LE(m->owned(now).size(), 6u) << m->instance();
  for (const auto& m : members) EXPECT_GE(m->owned(now).size(), 4u) << m->instance();
  // c dies (stops renewing): after its lease time a and b share everything, 8 each.
  const auto c_had = members[2]->owned(now);
  core::Instant died = now;
  for (int i = 0; i < 6; ++i) {
    round(2);
    check_views(2);
  }
  EXPECT_EQ(check_views(2), 16u);
  EXPECT_EQ(members[0]->owned(now).size(), 8u);
  EXPECT_EQ(members[1]->owned(now).size(), 8u);
  const auto holders = shard_holders(*db, now);
  for (int s : c_had) EXPECT_NE(holders.at(s), "c") << "shard " << s;
  EXPECT_LE(now - died, ttl + std::chrono::seconds(30)) << "taken over within the lease time and a few heartbeats";
  // A clean leave hands everything over at once.
  members[0]->leave();
  EXPECT_EQ(members[0]->owned(now).size(), 0u);
  (void)members[1]->heartbeat();
  EXPECT_EQ(members[1]->owned(now).size(), 16u) << "b takes a's shards at once: a gave back its membership too";
}

TEST_P(EvaluationRunnerTest, ShardedRunsStoreOwnedPartnersAndQueueTheRestForTheirOwner) {
  ASSERT_TRUE(sources::generate(dir_.path() / "gen", {12, 1500, 5, 2026}));
  auto rules = rules::load_rule_set(dir_.path() / "gen/rules");
  ASSERT_TRUE(rules);
  auto base = load(dir_.path() / "gen/tickets.ndjson", "tickets", *rules);
  const core::Instant as_of = T("2026-06-20T12:00:00Z");
  const core::Instant now = T("2026-06-20T12:00:05Z");
  auto db = fresh_store("sharded");
  db->items().upsert(base);
  const auto ttl = std::chrono::milliseconds(600'000);
  const core::ManualClock clock(now);
  Cluster a(*db, "a", 4, ttl, clock), b(*db, "b", 4, ttl, clock);
  (void)a.heartbeat();
  (void)b.heartbeat();
  (void)a.heartbeat();  // gives back half
  (void)b.heartbeat();  // takes it
  ASSERT_EQ(a.owned(now).size(), 2u);
  ASSERT_EQ(b.owned(now).size(), 2u);

  EvaluationRunner ra(*rules, *db, &a), rb(*rules, *db, &b);
  const auto sa = ra.run_full(as_of, now);
  const auto sb = rb.run_full(as_of, now);
  EXPECT_EQ(sa.evaluations + sb.evaluations, 24) << "12 partners, two periods each, split between a and b";
  EXPECT_GT(sa.evaluations, 0);
  EXPECT_GT(sb.evaluations, 0);
  // The work log names the owner and fence of each shard's work.
  for (const auto& w : db->queue().work_log()) {
    const int shard = std::stoi(w.lease.substr(6));
    EXPECT_EQ(w.holder, (a.guard_for_shard(shard, now) ? "a" : "b"));
    EXPECT_EQ(w.fence, (w.holder == "a" ? a : b).guard_for_shard(shard, now)->fence);
  }

  // Items of every partner change on a's watch: a evaluates its own and queues b's.
  std::vector<store::Item> changed, previous;
  for (std::size_t i = 0; i < base.size(); i += 41) {
    store::Item c = base[i];
    previous.push_back(c);
    c.priority = "urgent";
    c.updated_at = c.updated_at + std::chrono::hours(48);
    changed.push_back(c);
  }
  db->items().upsert(changed);
  (void)ra.run_incremental(changed, previous, as_of, now);
  const auto queued = db->queue().waiting(b.owned(now));
  EXPECT_FALSE(queued.empty());
  EXPECT_TRUE(db->queue().waiting(a.owned(now)).empty()) << "a evaluated its own partners itself";
  for (const auto& q : queued) EXPECT_TRUE(b.guard_for(q.partner, now)) << q.partner;
  const auto answered = rb.run_queued(as_of, now);
  EXPECT_EQ(answered.evaluations, static_cast<std::int64_t>(queued.size()));
  EXPECT_TRUE(db->queue().waiting(b.owned(now)).empty()) << "answered requests leave the queue";

  // The result equals one instance evaluating everything from scratch.
  auto single = fresh_store("single");
  single->items().upsert(base);
  single->items().upsert(changed);
  EvaluationRunner one(*rules, *single);
  (void)one.run_full(as_of, now);
  for (const auto& c : rules->contracts) {
    const auto w = engine::period_containing(c, rules->calendars.at(c.calendar), as_of);
    auto x = db->evaluations().document(c.contract, c.version, w->label);
    auto y = single->evaluations().document(c.contract, c.version, w->label);
    ASSERT_TRUE(x && y) << c.contract;
    EXPECT_EQ(*x, *y) << c.contract;
  }

  // A request made again while being answered stays for the next round (its generation moved on).
  const auto some = db->queue().waiting(b.owned(now));
  EXPECT_TRUE(some.empty());
  store::QueuedEvaluation q{rules->contracts[0].contract, rules->contracts[0].version, T("2026-06-01T00:00:00Z"),
                            a.shard_of(rules->contracts[0].partner), rules->contracts[0].partner, 0, now};
  db->queue().enqueue(std::vector{q}, now);
  const auto first = db->queue().waiting(std::vector{q.shard});
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].generation, 1);
  db->queue().enqueue(std::vector{q}, now);
  store::SaveContext stale;
  stale.answered = first;
  (void)db->evaluations().save_all({}, now, &stale);
  const auto still = db->queue().waiting(std::vector{q.shard});
  ASSERT_EQ(still.size(), 1u);
  EXPECT_EQ(still[0].generation, 2);

  // A shard that passed to another instance meanwhile stores nothing of a's late run.
  const int lost = a.owned(now).front();
  ASSERT_TRUE(db->leases().release(shard_lease(lost), "a"));
  ASSERT_TRUE(db->leases().claim(shard_lease(lost), "b", now, ttl));
  const auto log_before = db->queue().work_log(shard_lease(lost)).size();
  const auto again = ra.run_full(as_of + std::chrono::minutes(1), now + std::chrono::minutes(1));
  EXPECT_GT(again.evaluations, 0);
  EXPECT_EQ(db->queue().work_log(shard_lease(lost)).size(), log_before) << "nothing stored under a lost lease";
  for (const auto& c : rules->contracts) {
    if (a.shard_of(c.partner) != lost) continue;
    const auto w = engine::period_containing(c, rules->calendars.at(c.calendar), as_of);
    const auto doc = nlohmann::json::parse(*db->evaluations().document(c.contract, c.version, w->label));
    EXPECT_EQ(doc["as_of"], core::format_rfc3339(as_of)) << "still b's (and the first run's) evaluation";
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, EvaluationRunnerTest, ::testing::Values(Backend::sqlite, Backend::postgresql),
                         [](const auto& param_info) { return std::string(store::to_string(param_info.param)); });

}  // namespace
}  // namespace pactwatch::app
