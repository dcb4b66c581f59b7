// Import throughput (make bench-import): pages of synthetic tickets stored the way a connector
// stores them (Store::store_page: the items and the cursor in one transaction), into SQLite and a
// throwaway PostgreSQL, with one INSERT per item and with the batched upsert, side by side in one
// run; then in the large pages of a bulk import, where PostgreSQL loads by COPY. Each case then
// stores the same pages again (an idempotent re-ingest: nothing written).
//
// usage: import_driver [ITEMS] [PAGE_SIZE] [BULK_PAGE_SIZE]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pactwatch/core/time.h"
#include "pactwatch/store/store.h"
#include "pg_server.h"
#include "temp_dir.h"

namespace {

using namespace pactwatch;
using Clock = std::chrono::steady_clock;

std::vector<store::Item> make_items(std::size_t n) {
  std::vector<store::Item> out;
  out.reserve(n);
  const auto base = *core::parse_rfc3339("2026-10-01T08:00:00Z");
  for (std::size_t i = 0; i < n; ++i) {
    store::Item it;
    it.source = "bench";
    it.external_id = std::to_string(100000 + i);
    it.kind = "tickets";
    it.partner_id = "p" + std::to_string(1 + i % 500);
    it.status = i % 7 ? "solved" : "open";
    it.priority = i % 11 ? "normal" : "urgent";
    it.created_at = base + std::chrono::minutes(static_cast<long>(i % 40000));
    it.first_reply_at = *it.created_at + std::chrono::minutes(static_cast<long>(5 + i % 300));
    if (i % 7) it.solved_at = *it.created_at + std::chrono::hours(static_cast<long>(1 + i % 48));
    it.updated_at = it.solved_at.value_or(*it.first_reply_at);
    it.payload = nlohmann::json{{"status_history", {{{"at", core::format_rfc3339(*it.created_at)}, {"status", "open"}}}},
                                {"tags", {"gen", i % 3 ? "email" : "phone"}},
                                {"agent_replies", {core::format_rfc3339(*it.first_reply_at)}}}
                     .dump();
    out.push_back(std::move(it));
  }
  return out;
}

double run(store::Store& db, const std::vector<store::Item>& items, std::size_t page, std::int64_t& written) {
  const auto t = Clock::now();
  written = 0;
  const auto now = *core::parse_rfc3339("2026-11-01T00:00:00Z");
  for (std::size_t off = 0; off < items.size(); off += page) {
    const std::size_t n = std::min(page, items.size() - off);
    written += db.sources().store_page("bench", std::span(items).subspan(off, n), "cursor-" + std::to_string(off + n), now).written;
  }
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 100000;
  const std::size_t page = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 100;
  const std::size_t bulk = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 10000;
  const auto items = make_items(n);
  std::printf("pactwatch import benchmark: %zu tickets in pages of %zu as a connector stores them, then in pages of %zu as a "
              "bulk import does (store_page: items and cursor in one transaction)\n", n, page, bulk);
  std::printf("| store | pages of | upsert | first load (items/s) | re-ingest, unchanged (items/s) |\n|---|---|---|---|---|\n");
  testutils::TempDir dir;
  auto& pg = testutils::shared_postgres();
  int db_n = 0;
  struct Case {
    const char* backend;
    std::size_t page, batch, copy_threshold;
    const char* upsert;
  };
  const std::size_t never = std::numeric_limits<std::size_t>::max();
  const std::vector<Case> cases{
      {"SQLite", page, 1, never, "one INSERT per item"},
      {"SQLite", page, 250, never, "250 rows per INSERT"},
      {"PostgreSQL", page, 1, never, "one INSERT per item"},
      {"PostgreSQL", page, 250, never, "250 rows per INSERT"},
      {"SQLite", bulk, 1, never, "one INSERT per item"},
      {"PostgreSQL", bulk, 250, never, "250 rows per INSERT"},
      {"PostgreSQL", bulk, 250, 1000, "COPY into staging, one INSERT ... SELECT"},
  };
  for (const auto& c : cases) {
    const std::string name = "import_" + std::to_string(++db_n);
    const bool sqlite = std::string(c.backend) == "SQLite";
    const std::string url = sqlite ? "sqlite://" + (dir.path() / (name + ".db")).string() : pg.create_database(name);
    store::StoreOptions o{url, "", 1, c.batch};
    o.copy_threshold = c.copy_threshold;
    auto db = std::move(*store::Store::open(o));
    db->migrate(*core::parse_rfc3339("2026-11-01T00:00:00Z"));
    std::int64_t written = 0, again = 0;
    const double first = run(*db, items, c.page, written);
    const double second = run(*db, items, c.page, again);
    if (written != static_cast<std::int64_t>(n) || again != 0) {
      std::fprintf(stderr, "%s %s: wrote %lld then %lld (expected %zu then 0)\n", c.backend, c.upsert,
                   static_cast<long long>(written), static_cast<long long>(again), n);
      return 1;
    }
    std::printf("| %s | %zu | %s | %.0f (%.2f s) | %.0f (%.2f s) |\n", c.backend, c.page, c.upsert,
                static_cast<double>(n) / first, first, static_cast<double>(n) / second, second);
    std::fflush(stdout);
  }
  return 0;
}
