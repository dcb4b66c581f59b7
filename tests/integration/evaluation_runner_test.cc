// Incremental re-evaluation gives the same stored results as a full evaluation, on SQLite and on
// a real PostgreSQL, over a generated data set.
#include <gtest/gtest.h>

#include <atomic>

#include "pactwatch/app/evaluation_runner.h"
#include "pactwatch/core/diagnostic.h"
#include "pactwatch/engine/evaluate.h"
#include "pactwatch/sources/generate.h"
#include "pactwatch/sources/import.h"
#include "pg_server.h"
#include "temp_dir.h"

namespace pactwatch::app {
namespace {

using store::Backend;
core::Instant T(const char* s) { return *core::parse_rfc3339(s); }

class EvaluationRunnerTest : public ::testing::TestWithParam<Backend> {
 protected:
  std::unique_ptr<store::Store> fresh_store(const std::string& name) {
    std::string url;
    if (GetParam() == Backend::sqlite) {
      url = "sqlite://" + (dir_.path() / (name + ".db")).string();
    } else {
      static std::atomic<int> n{0};
      url = testutils::shared_postgres().create_database("runner_" + name + "_" + std::to_string(++n));
    }
    auto s = store::Store::open({url, "", 2});
    if (!s) throw std::runtime_error(s.error());
    (*s)->migrate(T("2026-01-01T00:00:00Z"));
    return std::move(*s);
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
  incremental->upsert_items(base);
  EvaluationRunner inc(*rules, *incremental);
  const auto full_stats = inc.run_full(as_of, now);
  EXPECT_EQ(full_stats.evaluations, 50);  // 25 partners, the current period and the one before
  std::vector<store::Item> previous;
  for (const auto& c : changed) {
    if (auto old = incremental->find_item(c.source, c.external_id)) previous.push_back(*old);
  }
  EXPECT_GT(previous.size(), 0u);
  incremental->upsert_items(changed);
  const auto inc_stats = inc.run_incremental(changed, previous, as_of, now);
  EXPECT_GT(inc_stats.evaluations, 0);

  auto full = fresh_store("full");
  full->upsert_items(base);
  full->upsert_items(changed);
  EvaluationRunner fr(*rules, *full);
  fr.run_full(as_of, now);

  // Every current-period evaluation is byte-identical; so is every earlier period the incremental
  // run re-evaluated, against a full evaluation of that period.
  int compared = 0;
  for (const auto& c : rules->contracts) {
    const auto& cal = rules->calendars.at(c.calendar);
    const auto window = engine::period_containing(c, cal, as_of);
    auto a = incremental->evaluation_document(c.contract, c.version, window->label);
    auto b = full->evaluation_document(c.contract, c.version, window->label);
    ASSERT_TRUE(a && b) << c.contract;
    EXPECT_EQ(*a, *b) << c.contract;
    ++compared;
    for (const char* label : {"2026-01", "2026-02", "2026-03", "2026-04", "2026-05"}) {
      auto past = incremental->evaluation_document(c.contract, c.version, label);
      if (!past) continue;
      const auto items = full->items_of_partner(c.partner);
      const auto w = engine::period_by_label(c, cal, label);
      EXPECT_EQ(*past, engine::evaluate_contract(c, cal, items, *w, as_of).dump()) << c.contract << " " << label;
      ++compared;
    }
  }
  EXPECT_GT(compared, 25);
  // The first run recorded every rule's first status; later changes only where a status moved.
  EXPECT_GE(incremental->status_changes().size(), static_cast<std::size_t>(25 * 6));
}

TEST_P(EvaluationRunnerTest, IncrementalTouchesOnlyAffectedPartnerPeriods) {
  ASSERT_TRUE(sources::generate(dir_.path() / "gen", {10, 500, 3, 2026}));
  auto rules = rules::load_rule_set(dir_.path() / "gen/rules");
  ASSERT_TRUE(rules);
  auto base = load(dir_.path() / "gen/tickets.ndjson", "tickets", *rules);
  auto db = fresh_store("touch");
  db->upsert_items(base);
  EvaluationRunner runner(*rules, *db);
  store::Item one = base.front();
  one.updated_at = one.updated_at + std::chrono::hours(1);
  db->upsert_items(std::vector<store::Item>{one});
  const auto stats = runner.run_incremental(std::vector<store::Item>{one}, {}, T("2026-11-01T00:00:00Z"), T("2026-11-01T00:00:00Z"));
  // One ticket counts in at most two months (created, solved): at most two evaluations.
  EXPECT_GE(stats.evaluations, 1);
  EXPECT_LE(stats.evaluations, 2);
  // Items of no partner affect nothing.
  store::Item orphan = one;
  orphan.partner_id.reset();
  EXPECT_EQ(runner.run_incremental(std::vector<store::Item>{orphan}, {}, T("2026-11-01T00:00:00Z"), T("2026-11-01T00:00:00Z")).evaluations, 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, EvaluationRunnerTest, ::testing::Values(Backend::sqlite, Backend::postgresql),
                         [](const auto& param_info) { return std::string(store::to_string(param_info.param)); });

}  // namespace
}  // namespace pactwatch::app
