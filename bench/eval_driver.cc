// End-to-end benchmark driver for the evaluation engine (make bench-eval):
//   1. pactwatch gen --partners N --tickets M, then pactwatch import (timed, as subprocesses);
//   2. a full evaluation of every partner's current period from the SQLite store (time, peak RSS);
//   3. an incremental re-evaluation after K changed tickets (time);
//   4. baselines: every KPI and the brand standard of the generated contracts, per partner and
//      period (May and June), on wall-clock time, as one SQL query, in SQLite and in a throwaway
//      PostgreSQL loaded with the same tickets.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include "driver_util.h"
#include "pactwatch/app/evaluation_runner.h"
#include "pactwatch/core/diagnostic.h"
#include "pactwatch/core/time.h"
#include "pactwatch/rules/rule_set.h"
#include "pactwatch/store/store.h"
#include "pg_server.h"
#include "temp_dir.h"

namespace {

using namespace pactwatch;
using Clock = bench::Clock;

using bench::peak_rss_mb;
using bench::run;
using bench::seconds_since;

// The SQL baseline: what the contracts `pactwatch gen` writes measure (daemon/sources/generate.cc),
// per partner and period, as one query. Periods are the contracts' months on their calendar
// (desk: Europe/Paris), in UTC ms: May 2026 = [1777586400000, 1780264800000) and June 2026 =
// [1780264800000, 1782856800000); an item counts by its counting instant in [start, end) and at or
// before the as-of instant, as in the engine. Per (partner, period) it returns:
//   p1_first_reply  urgent tickets by creation: met (first reply <= 1h), decided, items;
//   first_reply     tickets by creation: met (first reply <= 8h), decided, items;
//   resolution_p90  high/urgent tickets by solve (solved_at): sample size and the nearest-rank
//                   90th percentile (rank ceil(0.9 n)) of solved_at - created_at;
//   requester_wait  tickets by solve: sum and count of solved_at - created_at (mean = sum / count);
//   csat            surveys by submission: score == "good", surveys with a score, surveys;
//   reopen_loops    tickets by creation: violations (reopens > 2); checked = the tickets' items.
// Wall-clock only: every duration is a plain difference of timestamps. The first reply stops at
// the earlier of first_reply_at and solved_at; a first reply still running at the as-of instant is
// decided (false) once more than the threshold has passed, else pending (not in the denominator).
// It leaves out business hours (the desk calendar), paused time and status histories (resolution
// and requester_wait are created -> solved_at; the solve instant is the solved_at column, not the
// history), agent_replies, evidence, pending lists, intervals, forecasts, statuses and scores.
// SQLite and PostgreSQL differ only in reading the payload's JSON.
std::string baseline_sql(bool postgres, long long as_of_ms) {
  const std::string asof = std::to_string(as_of_ms);
  const std::string score = postgres ? "(i.payload::jsonb ->> 'score')" : "json_extract(i.payload, '$.score')";
  const std::string reopens = postgres ? "(i.payload::jsonb ->> 'reopens')" : "json_extract(i.payload, '$.reopens')";
  return "WITH periods(label, a, b) AS (VALUES ('2026-05', 1777586400000, 1780264800000), "
         "('2026-06', 1780264800000, 1782856800000)), "
         "created AS ("
         " SELECT i.partner_id AS partner_id, p.label AS label, i.kind AS kind, i.priority AS priority,"
         " i.created_at AS created_at,"
         " CASE WHEN i.solved_at IS NOT NULL AND (i.first_reply_at IS NULL OR i.solved_at < i.first_reply_at)"
         " THEN i.solved_at ELSE i.first_reply_at END AS stop_at,"
         " CASE WHEN i.kind = 'surveys' THEN " + score + " END AS score,"
         " CASE WHEN i.kind = 'tickets' THEN " + reopens + " END AS reopens"
         " FROM items i JOIN periods p ON i.created_at >= p.a AND i.created_at < p.b"
         " WHERE i.kind IN ('tickets', 'surveys') AND i.partner_id IS NOT NULL AND i.created_at <= " + asof + "), "
         "c AS ("
         " SELECT partner_id, label,"
         " SUM(CASE WHEN kind = 'tickets' AND priority = 'urgent' THEN 1 ELSE 0 END) AS p1_items,"
         " SUM(CASE WHEN kind = 'tickets' AND priority = 'urgent' AND stop_at <= " + asof +
         " AND stop_at - created_at <= 3600000 THEN 1 ELSE 0 END) AS p1_num,"
         " SUM(CASE WHEN kind = 'tickets' AND priority = 'urgent' AND (stop_at <= " + asof + " OR " + asof +
         " - created_at > 3600000) THEN 1 ELSE 0 END) AS p1_den,"
         " SUM(CASE WHEN kind = 'tickets' THEN 1 ELSE 0 END) AS tickets,"
         " SUM(CASE WHEN kind = 'tickets' AND stop_at <= " + asof +
         " AND stop_at - created_at <= 28800000 THEN 1 ELSE 0 END) AS fr_num,"
         " SUM(CASE WHEN kind = 'tickets' AND (stop_at <= " + asof + " OR " + asof +
         " - created_at > 28800000) THEN 1 ELSE 0 END) AS fr_den,"
         " SUM(CASE WHEN kind = 'surveys' THEN 1 ELSE 0 END) AS surveys,"
         " SUM(CASE WHEN kind = 'surveys' AND score = 'good' THEN 1 ELSE 0 END) AS csat_num,"
         " SUM(CASE WHEN kind = 'surveys' AND score IS NOT NULL THEN 1 ELSE 0 END) AS csat_den,"
         " SUM(CASE WHEN kind = 'tickets' AND CAST(reopens AS NUMERIC) > 2 THEN 1 ELSE 0 END) AS reopen_violations"
         " FROM created GROUP BY partner_id, label), "
         "solved AS ("
         " SELECT i.partner_id AS partner_id, p.label AS label, i.priority AS priority, i.solved_at - i.created_at AS d"
         " FROM items i JOIN periods p ON i.solved_at >= p.a AND i.solved_at < p.b"
         " WHERE i.kind = 'tickets' AND i.partner_id IS NOT NULL AND i.solved_at <= " + asof + "), "
         "s AS (SELECT partner_id, label, SUM(d) AS wait_sum, COUNT(*) AS wait_n FROM solved GROUP BY partner_id, label), "
         "ranked AS ("
         " SELECT partner_id, label, d, ROW_NUMBER() OVER (PARTITION BY partner_id, label ORDER BY d) AS rn,"
         " COUNT(*) OVER (PARTITION BY partner_id, label) AS n"
         " FROM solved WHERE priority IN ('high', 'urgent')), "
         "p90 AS (SELECT partner_id, label, n, d FROM ranked WHERE rn = (9 * n + 9) / 10), "
         "k AS (SELECT partner_id, label FROM c UNION SELECT partner_id, label FROM s) "
         "SELECT k.partner_id, k.label,"
         " COALESCE(c.p1_num, 0) AS p1_num, COALESCE(c.p1_den, 0) AS p1_den, COALESCE(c.p1_items, 0) AS p1_items,"
         " COALESCE(c.fr_num, 0) AS fr_num, COALESCE(c.fr_den, 0) AS fr_den, COALESCE(c.tickets, 0) AS tickets,"
         " COALESCE(p90.n, 0) AS res_n, p90.d AS res_p90, COALESCE(s.wait_sum, 0) AS wait_sum,"
         " COALESCE(s.wait_n, 0) AS wait_n, COALESCE(c.csat_num, 0) AS csat_num, COALESCE(c.csat_den, 0) AS csat_den,"
         " COALESCE(c.surveys, 0) AS surveys, COALESCE(c.reopen_violations, 0) AS reopen_violations "
         "FROM k LEFT JOIN c ON c.partner_id = k.partner_id AND c.label = k.label"
         " LEFT JOIN s ON s.partner_id = k.partner_id AND s.label = k.label"
         " LEFT JOIN p90 ON p90.partner_id = k.partner_id AND p90.label = k.label "
         "ORDER BY k.partner_id, k.label";
}

// Runs the baseline and fetches every row (each row's values are read into the row by the
// rowset's iterator); returns the number of (partner, period) rows.
long run_baseline(soci::session& sql, const std::string& text) {
  soci::rowset<soci::row> rows = (sql.prepare << text);
  long n = 0;
  for (auto it = rows.begin(); it != rows.end(); ++it) ++n;
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  int partners = argc > 1 ? std::atoi(argv[1]) : 1000;
  long long tickets = argc > 2 ? std::atoll(argv[2]) : 1000000;
  int changes = argc > 3 ? std::atoi(argv[3]) : 1000;
  const bool with_postgres = !(argc > 4 && std::string(argv[4]) == "nopg");
  const int repeats = argc > 5 ? std::atoi(argv[5]) : 0;  // extra incremental runs, for profiling
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const std::string binary = PACTWATCH_BINARY;
  // PACTWATCH_BENCH_DIR keeps the generated data and store between runs (gen and import are
  // skipped when its store exists); without it everything lives in a temporary directory.
  testutils::TempDir temp;
  struct Dir {
    std::filesystem::path p;
    [[nodiscard]] const std::filesystem::path& path() const { return p; }
  } dir{temp.path()};
  if (const char* keep = std::getenv("PACTWATCH_BENCH_DIR")) {
    dir.p = keep;
    std::filesystem::create_directories(dir.p);
  }
  const bool reuse = std::filesystem::exists(dir.path() / "bench.db");
  const std::string db_url = "sqlite://" + (dir.path() / "bench.db").string();
  std::printf("pactwatch evaluation benchmark: %d partners, %lld tickets, %d changed\n", partners, tickets, changes);

  auto t = Clock::now();
  if (!reuse) {
    run(binary + " gen --partners " + std::to_string(partners) + " --tickets " + std::to_string(tickets) +
        " --seed 1 --out " + dir.path().string() + " > /dev/null");
    std::printf("  gen:                 %7.2f s\n", seconds_since(t));
    t = Clock::now();
    const std::string common = " --source gen --rules " + (dir.path() / "rules").string() + " --db " + db_url + " > /dev/null";
    run(binary + " import tickets " + (dir.path() / "tickets.ndjson").string() + common);
    run(binary + " import surveys " + (dir.path() / "surveys.ndjson").string() + common);
    std::printf("  import (SQLite):     %7.2f s\n", seconds_since(t));
  } else {
    std::printf("  reusing the store in %s\n", dir.path().c_str());
  }

  const long rss_before = peak_rss_mb();
  t = Clock::now();
  auto rules = rules::load_rule_set(dir.path() / "rules");
  if (!rules) return 1;
  const double rules_s = seconds_since(t);
  auto store = std::move(*store::Store::open({db_url, "", 3}));
  const auto as_of = *core::parse_rfc3339("2026-06-20T12:00:00Z");
  // PACTWATCH_MEMORY_BUDGET (MiB): the runners' evaluation.memory_budget (default 512).
  const std::size_t budget = std::getenv("PACTWATCH_MEMORY_BUDGET")
                                 ? std::strtoull(std::getenv("PACTWATCH_MEMORY_BUDGET"), nullptr, 10) << 20
                                 : app::EvaluationRunner::kDefaultMemoryBudget;
  app::EvaluationRunner runner(*rules, *store);
  runner.set_memory_budget(budget);
  t = Clock::now();
  const auto full = runner.run_full(as_of, as_of);
  const double full_s = seconds_since(t);
  std::printf("  rules load:          %7.2f s (%zu contracts)\n", rules_s, rules->contracts.size());
  std::printf("  full evaluation:     %7.2f s (%lld contract periods, 6 rules each; compute %.2f s, save %.2f s), "
              "peak RSS %ld MB (%ld MB before)\n",
              full_s, static_cast<long long>(full.evaluations), static_cast<double>(full.compute.count()) / 1e6,
              static_cast<double>(full.save.count()) / 1e6, peak_rss_mb(), rss_before);
  std::printf("  memory budget %zu MiB: %zu prepared periods kept after the full run, %.0f MiB estimated\n", budget >> 20,
              runner.kept_periods(), static_cast<double>(runner.kept_bytes()) / (1 << 20));

  // Baseline over the same data as the full evaluation: the contracts' KPIs and brand standard on
  // wall-clock time, as one SQL query (see baseline_sql).
  const long long as_of_ms = core::to_unix_ms(as_of);
  {
    soci::session sql(soci::sqlite3, (dir.path() / "bench.db").string());
    t = Clock::now();
    const long n = run_baseline(sql, baseline_sql(false, as_of_ms));
    const double sqlite_sql_s = seconds_since(t);
    std::printf("  SQL baseline SQLite: %7.3f s (%ld contract periods, the same 5 KPIs and standard, wall-clock)\n",
                sqlite_sql_s, n);
    std::printf("  ratio engine/SQL SQLite: %.2f (goal <= 0.5)\n", full_s / sqlite_sql_s);
  }

  // Change tickets of the current month across partners: urgent now, and answered later.
  std::vector<store::Item> changed, previous;
  {
    soci::session sql(soci::sqlite3, (dir.path() / "bench.db").string());
    std::vector<std::string> ids(static_cast<std::size_t>(changes));
    sql << "SELECT external_id FROM items WHERE kind = 'tickets' AND created_at >= 1780000000000 "
           "ORDER BY external_id LIMIT " + std::to_string(changes), soci::into(ids);
    for (const auto& id : ids) {
      auto item = store->items().find("gen", "tickets", id);
      if (!item) continue;
      previous.push_back(*item);
      item->priority = "urgent";
      item->updated_at = item->updated_at + std::chrono::hours(1);
      changed.push_back(*item);
    }
  }
  store->items().upsert(changed);
  t = Clock::now();
  const auto inc = runner.run_incremental(changed, previous, as_of, as_of);
  std::printf("  incremental:         %7.3f s (%zu changed tickets -> %lld contract periods; compute %.3f s, save %.3f s)\n",
              seconds_since(t), changed.size(), static_cast<long long>(inc.evaluations),
              static_cast<double>(inc.compute.count()) / 1e6, static_cast<double>(inc.save.count()) / 1e6);

  for (int i = 0; i < repeats; ++i) (void)runner.run_incremental(changed, changed, as_of, as_of);

  if (with_postgres) {
    testutils::PostgresServer pg;
    const std::string url = pg.create_database("bench");
    auto pgstore = std::move(*store::Store::open({url, "", 1}));
    pgstore->migrate(as_of);
    soci::session sql(soci::sqlite3, (dir.path() / "bench.db").string());
    t = Clock::now();
    // Copy the items through the store's own upsert, in batches.
    std::vector<store::Item> batch;
    for (const auto& p : rules->partners) {
      auto items = store->items().of_partner(p.id);
      batch.insert(batch.end(), items.begin(), items.end());
      if (batch.size() > 20000) {
        pgstore->items().upsert(batch);
        batch.clear();
      }
    }
    pgstore->items().upsert(batch);
    const double load_s = seconds_since(t);
    const auto loaded = pgstore->items().count();
    std::printf("  load PostgreSQL:     %7.2f s (%lld items, %.0f items/s: the store's upsert, COPY for batches of 1,000 or more)\n",
                load_s, static_cast<long long>(loaded), static_cast<double>(loaded) / load_s);
    {
      // What autovacuum would do soon after a bulk load; done here so the run does not depend on its timing.
      store::Transaction tx(pgstore->database(), store::Durability::normal);
      tx.sql() << "ANALYZE";
      tx.commit();
    }
    app::EvaluationRunner pg_runner(*rules, *pgstore);
    pg_runner.set_memory_budget(budget);
    t = Clock::now();
    const auto pg_full = pg_runner.run_full(as_of, as_of);
    const double pg_full_s = seconds_since(t);
    std::printf("  full evaluation PG:  %7.2f s (%lld contract periods)\n", pg_full_s,
                static_cast<long long>(pg_full.evaluations));
    soci::session pgsql(soci::postgresql, "host=127.0.0.1 port=" + std::to_string(pg.port()) + " dbname=bench user=pactwatch");
    t = Clock::now();
    const long n = run_baseline(pgsql, baseline_sql(true, as_of_ms));
    const double pg_sql_s = seconds_since(t);
    std::printf("  SQL baseline PG:     %7.3f s (%ld contract periods, the same 5 KPIs and standard, wall-clock)\n",
                pg_sql_s, n);
    std::printf("  ratio engine/SQL PG: %.2f (goal <= 1.0)\n", pg_full_s / pg_sql_s);
    std::printf("  ratio PG/SQLite full evaluation: %.2f (goal <= 1.2)\n", pg_full_s / full_s);
  }
  return 0;
}
