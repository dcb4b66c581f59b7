// A fresh, migrated store for a test: an SQLite file in the test's directory, or a new database on
// the test process's throwaway PostgreSQL server.
#pragma once

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>

#include "pactwatch/store/store.h"
#include "pg_server.h"
#include "temp_dir.h"

namespace pactwatch::testutils {

inline std::unique_ptr<store::Store> fresh_store(store::Backend backend, const TempDir& dir, const std::string& name,
                                                 core::Instant migrated_at) {
  std::string url;
  if (backend == store::Backend::sqlite) {
    url = "sqlite://" + (dir.path() / (name + ".db")).string();
  } else {
    static std::atomic<int> n{0};
    url = shared_postgres().create_database(name + "_" + std::to_string(++n));
  }
  auto s = store::Store::open({url, "", 2});
  if (!s) throw std::runtime_error(s.error());
  (*s)->migrate(migrated_at);
  return std::move(*s);
}

}  // namespace pactwatch::testutils
