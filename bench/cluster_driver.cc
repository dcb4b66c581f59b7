// Scale benchmark (make bench-cluster): several instances evaluating one PostgreSQL store.
//   1. pactwatch gen --partners N --tickets M (kept in PACTWATCH_BENCH_DIR when set);
//   2. import into a throwaway PostgreSQL and into SQLite with `pactwatch import`, in chunks of a
//      million lines (items per second for each);
//   3. for 1, 2 and 3 instances (or INSTANCES): empty the evaluation tables, start that many
//      worker processes, let them divide the 64 shards through their leases (app::Cluster, as
//      serve does), then start them together on a full evaluation of their shards; report the
//      wall time until the last one is done, and each one's periods, time and peak RSS;
//   4. the plans of the hot queries on the loaded database.
//
// usage: cluster_driver [PARTNERS] [TICKETS] [INSTANCES, e.g. 1,2,3] [sqlite|nosqlite]
// PACTWATCH_MEMORY_BUDGET (MiB) sets each instance's evaluation.memory_budget (default 512).
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <soci/soci.h>

#include "driver_util.h"
#include "pactwatch/app/cluster.h"
#include "pactwatch/app/evaluation_runner.h"
#include "pactwatch/core/clock.h"
#include "pactwatch/rules/rule_set.h"
#include "pactwatch/store/store.h"
#include "pg_server.h"
#include "temp_dir.h"

namespace {

using namespace pactwatch;
using Clock = bench::Clock;
namespace fs = std::filesystem;

constexpr int kShards = 64;
const char* kAsOf = "2026-06-20T12:00:00Z";

using bench::peak_rss_mb;
using bench::run;
using bench::seconds_since;

std::int64_t count_lines(const fs::path& file) {
  std::ifstream in(file);
  std::int64_t n = 0;
  std::string line;
  while (std::getline(in, line)) n += !line.empty();
  return n;
}

// One instance: take a share of the shards, wait for the others and the go signal, evaluate.
int worker(const std::string& name, int instances, const std::string& url, const fs::path& rules_dir, const fs::path& sync) {
  auto opened = store::Store::open({url, "", 3});
  if (!opened) {
    std::cerr << opened.error() << '\n';
    return 1;
  }
  store::Store& db = **opened;
  auto rules = rules::load_rule_set(rules_dir);
  if (!rules) return 1;
  const core::SystemClock clock;
  app::Cluster cluster(db, name, kShards, std::chrono::seconds(60), clock);
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  while (true) {
    (void)cluster.heartbeat();
    std::set<std::string> holders;
    int held = 0;
    for (const auto& l : db.leases().all()) {
      if (l.name.starts_with("shard:") && l.expires_at > clock.now()) {
        holders.insert(l.holder);
        ++held;
      }
    }
    if (held == kShards && static_cast<int>(holders.size()) == instances) break;
    if (Clock::now() > deadline) {
      std::cerr << name << ": the shards did not settle\n";
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  std::ofstream(sync / ("ready-" + name)) << "ready\n";
  std::atomic<bool> done{false};
  std::thread beat([&] {
    while (!done) {
      for (int i = 0; i < 50 && !done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (!done) (void)cluster.heartbeat();
    }
  });
  while (!fs::exists(sync / "go")) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const long rss_before = peak_rss_mb();
  const auto t = Clock::now();
  const auto as_of = *core::parse_rfc3339(kAsOf);
  app::RunStats stats;
  const std::size_t budget = std::getenv("PACTWATCH_MEMORY_BUDGET")
                                 ? std::strtoull(std::getenv("PACTWATCH_MEMORY_BUDGET"), nullptr, 10) << 20
                                 : app::EvaluationRunner::kDefaultMemoryBudget;
  {
    app::EvaluationRunner runner(*rules, db, &cluster);  // its prepared periods go with it
    runner.set_memory_budget(budget);
    stats = runner.run_full(as_of, as_of);
  }
  const double s = seconds_since(t);
  std::ofstream(sync / ("done-" + name)) << "done\n";
  // Again, as the daemon's periodic full evaluation does: the statuses are stored already, so
  // little is written. Each waits for all to finish the first round first.
  while (true) {
    int finished = 0;
    for (const auto& e : fs::directory_iterator(sync)) finished += e.path().filename().string().starts_with("done-");
    if (finished == instances) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const auto t2 = Clock::now();
  app::EvaluationRunner again(*rules, db, &cluster);
  again.set_memory_budget(budget);
  const auto stats2 = again.run_full(as_of + std::chrono::minutes(1), as_of + std::chrono::minutes(1));
  const double s2 = seconds_since(t2);
  done = true;
  beat.join();
  std::ofstream(sync / ("result-" + name)) << name << ' ' << cluster.owned(clock.now()).size() << ' ' << stats.evaluations << ' '
                                           << s << ' ' << static_cast<double>(stats.compute.count()) / 1e6 << ' '
                                           << static_cast<double>(stats.save.count()) / 1e6 << ' ' << peak_rss_mb() << ' '
                                           << rss_before << ' ' << s2 << ' ' << static_cast<double>(stats2.compute.count()) / 1e6
                                           << ' ' << static_cast<double>(stats2.save.count()) / 1e6 << '\n';
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--worker") {
    if (argc != 7) return 2;
    return worker(argv[2], std::atoi(argv[3]), argv[4], argv[5], argv[6]);
  }
  const int partners = argc > 1 ? std::atoi(argv[1]) : 10000;
  const long long tickets = argc > 2 ? std::atoll(argv[2]) : 10000000;
  std::vector<int> counts;
  {
    std::stringstream list(argc > 3 ? argv[3] : "1,2,3");
    for (std::string n; std::getline(list, n, ',');) counts.push_back(std::stoi(n));
  }
  const bool with_sqlite = !(argc > 4 && std::string(argv[4]) == "nosqlite");
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const std::string binary = PACTWATCH_BINARY;
  testutils::TempDir temp;
  fs::path dir = temp.path();
  if (const char* keep = std::getenv("PACTWATCH_BENCH_DIR")) {
    dir = keep;
    fs::create_directories(dir);
  }
  std::printf("pactwatch scale benchmark: %d partners, %lld tickets, %d shards; %u hardware thread(s); memory budget %s MiB\n",
              partners, tickets, kShards, std::thread::hardware_concurrency(),
              std::getenv("PACTWATCH_MEMORY_BUDGET") ? std::getenv("PACTWATCH_MEMORY_BUDGET") : "512");

  auto t = Clock::now();
  if (!fs::exists(dir / "chunks")) {
    run(binary + " gen --partners " + std::to_string(partners) + " --tickets " + std::to_string(tickets) + " --seed 1 --out " +
        dir.string() + " > /dev/null");
    std::printf("  gen:                       %8.1f s\n", seconds_since(t));
    fs::create_directories(dir / "chunks");
    run("split -l 1000000 -d -a 3 " + (dir / "tickets.ndjson").string() + " " + (dir / "chunks/tickets-").string());
    fs::remove(dir / "tickets.ndjson");
  } else {
    std::printf("  reusing the data in %s\n", dir.c_str());
  }
  std::vector<fs::path> chunks;
  for (const auto& e : fs::directory_iterator(dir / "chunks")) chunks.push_back(e.path());
  std::sort(chunks.begin(), chunks.end());
  std::int64_t lines = 0;
  for (const auto& c : chunks) lines += count_lines(c);
  const std::int64_t surveys = count_lines(dir / "surveys.ndjson");

  testutils::PostgresServer pg;
  const std::string url = pg.create_database("scale");
  auto import_into = [&](const std::string& db_url, const char* what) {
    const std::string common = " --source gen --rules " + (dir / "rules").string() + " --db " + db_url + " > /dev/null";
    t = Clock::now();
    for (const auto& c : chunks) run(binary + " import tickets --format ndjson " + c.string() + common);
    run(binary + " import surveys " + (dir / "surveys.ndjson").string() + common);
    const double s = seconds_since(t);
    std::printf("  import into %-10s     %8.1f s  (%lld items, %.0f items/s)\n", what, s, static_cast<long long>(lines + surveys),
                static_cast<double>(lines + surveys) / s);
  };
  import_into(url, "PostgreSQL");
  if (with_sqlite) {
    fs::remove(dir / "scale.db");
    import_into("sqlite://" + (dir / "scale.db").string(), "SQLite");
    fs::remove(dir / "scale.db");
  }
  auto db = std::move(*store::Store::open({url, "", 1}));
  {
    store::Transaction tx(db->database(), store::Durability::normal);
    tx.sql() << "ANALYZE";
    tx.commit();
  }

  const fs::path self = fs::read_symlink("/proc/self/exe");
  for (int n : counts) {
    {
      store::Transaction tx(db->database(), store::Durability::normal);
      tx.sql() << "TRUNCATE evaluations, rule_statuses, status_changes, outbox, deliveries, work_log, leases, evaluation_queue";
      tx.commit();
    }
    const fs::path sync = dir / ("sync-" + std::to_string(n));
    fs::remove_all(sync);
    fs::create_directories(sync);
    std::vector<pid_t> pids;
    for (int i = 0; i < n; ++i) {
      const std::string name = "instance-" + std::to_string(i + 1);
      const pid_t pid = fork();
      if (pid == 0) {
        execl(self.c_str(), self.c_str(), "--worker", name.c_str(), std::to_string(n).c_str(), url.c_str(),
              (dir / "rules").c_str(), sync.c_str(), static_cast<char*>(nullptr));
        _exit(127);
      }
      pids.push_back(pid);
    }
    auto ready = [&] {
      int k = 0;
      for (const auto& e : fs::directory_iterator(sync)) k += e.path().filename().string().starts_with("ready-");
      return k;
    };
    while (ready() < n) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    t = Clock::now();
    std::ofstream(sync / "go") << "go\n";
    bool failed = false;
    for (pid_t pid : pids) {
      int status = 0;
      waitpid(pid, &status, 0);
      failed = failed || !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    const double wall = seconds_since(t);
    if (failed) {
      std::cerr << "a worker failed\n";
      return 1;
    }
    std::printf("  full evaluation, %d instance(s): %7.1f s wall (both rounds)\n", n, wall);
    double first_wall = 0, again_wall = 0;
    for (int i = 0; i < n; ++i) {
      std::ifstream in(sync / ("result-instance-" + std::to_string(i + 1)));
      std::string name;
      long shards = 0, periods = 0, rss = 0, rss_before = 0;
      double s = 0, compute = 0, save = 0, s2 = 0, compute2 = 0, save2 = 0;
      in >> name >> shards >> periods >> s >> compute >> save >> rss >> rss_before >> s2 >> compute2 >> save2;
      first_wall = std::max(first_wall, s);
      again_wall = std::max(again_wall, s2);
      std::printf("    %s: %2ld shards, %5ld periods: first %6.1f s (compute %.1f, save %.1f), again %6.1f s (compute %.1f, "
                  "save %.1f); peak RSS %ld MB (%ld MB before)\n",
                  name.c_str(), shards, periods, s, compute, save, s2, compute2, save2, rss, rss_before);
    }
    std::printf("    slowest instance: first run %.1f s, again %.1f s\n", first_wall, again_wall);
  }
  std::printf("  hot query plans on the loaded PostgreSQL:\n");
  for (const auto& q : db->explain_hot_queries()) {
    std::printf("    %s:\n", q.name.c_str());
    for (const auto& line : q.plan) std::printf("        %s\n", line.c_str());
  }
  return 0;
}
