// End-to-end benchmark driver for the evaluation engine (make bench-eval):
//   1. pactwatch gen --partners N --tickets M, then pactwatch import (timed, as subprocesses);
//   2. a full evaluation of every partner's current period from the SQLite store (time, peak RSS);
//   3. an incremental re-evaluation after K changed tickets (time);
//   4. baselines: the wall-clock first-reply ratio per partner as one SQL query, in SQLite and in
//      a throwaway PostgreSQL loaded with the same tickets.
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

const char* kBaselineSql =
    "SELECT partner_id, SUM(CASE WHEN first_reply_at - created_at <= 3600000 THEN 1 ELSE 0 END), COUNT(*) "
    "FROM items WHERE kind = 'tickets' AND priority = 'urgent' AND created_at >= :a AND created_at < :b "
    "GROUP BY partner_id";

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
  app::EvaluationRunner runner(*rules, *store);
  t = Clock::now();
  const auto full = runner.run_full(as_of, as_of);
  const double full_s = seconds_since(t);
  std::printf("  rules load:          %7.2f s (%zu contracts)\n", rules_s, rules->contracts.size());
  std::printf("  full evaluation:     %7.2f s (%lld contract periods, 6 rules each; compute %.2f s, save %.2f s), "
              "peak RSS %ld MB (%ld MB before)\n",
              full_s, static_cast<long long>(full.evaluations), static_cast<double>(full.compute.count()) / 1e6,
              static_cast<double>(full.save.count()) / 1e6, peak_rss_mb(), rss_before);

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

  // Baselines: the same first-reply ratio on wall-clock time, as one SQL query per database.
  const long long a = 1780272000000LL, b = 1782864000000LL;  // 2026-06-01 .. 2026-07-01 UTC
  {
    soci::session sql(soci::sqlite3, (dir.path() / "bench.db").string());
    t = Clock::now();
    soci::rowset<soci::row> rows = (sql.prepare << kBaselineSql, soci::use(a, "a"), soci::use(b, "b"));
    long n = 0;
    for (auto it = rows.begin(); it != rows.end(); ++it) ++n;
    std::printf("  SQL baseline SQLite: %7.3f s (%ld partners, wall-clock first reply only)\n", seconds_since(t), n);
  }
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
    std::printf("  load PostgreSQL:     %7.2f s\n", seconds_since(t));
    app::EvaluationRunner pg_runner(*rules, *pgstore);
    t = Clock::now();
    const auto pg_full = pg_runner.run_full(as_of, as_of);
    std::printf("  full evaluation PG:  %7.2f s (%lld contract periods)\n", seconds_since(t),
                static_cast<long long>(pg_full.evaluations));
    soci::session pgsql(soci::postgresql, "host=127.0.0.1 port=" + std::to_string(pg.port()) + " dbname=bench user=pactwatch");
    t = Clock::now();
    soci::rowset<soci::row> rows = (pgsql.prepare << kBaselineSql, soci::use(a, "a"), soci::use(b, "b"));
    long n = 0;
    for (auto it = rows.begin(); it != rows.end(); ++it) ++n;
    std::printf("  SQL baseline PG:     %7.3f s (%ld partners, wall-clock first reply only)\n", seconds_since(t), n);
  }
  return 0;
}
