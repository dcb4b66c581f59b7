// The store conformance suite's fixture: every repository's tests run on SQLite and on a real
// PostgreSQL server started for the test process (tests/integration/store/*_test.cc; the
// backends are instantiated once, in database_test.cc).
#pragma once

#include <gtest/gtest.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "pactwatch/core/digest.h"
#include "pactwatch/store/store.h"
#include "pg_server.h"
#include "temp_dir.h"

namespace pactwatch::store {
namespace conformance {

// What the test bodies use unqualified (they say `using namespace conformance;`).
using namespace std::chrono;
using core::Instant;

inline core::Instant t(int minute) {
  return core::Instant(std::chrono::milliseconds(1'780'000'000'000LL)) + std::chrono::minutes(minute);
}

inline Item ticket(const std::string& id, int updated_minute) {
  Item i;
  i.source = "zendesk";
  i.external_id = id;
  i.kind = "tickets";
  i.partner_id = "northwind";
  i.status = "open";
  i.priority = "urgent";
  i.created_at = t(0);
  i.updated_at = t(updated_minute);
  i.payload = R"({"tags":["vip"],"history":[]})";
  return i;
}

}  // namespace conformance

class StoreConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::sqlite) {
      url_ = "sqlite://" + (dir_.path() / "store.db").string();
    } else {
      static std::atomic<int> counter{0};
      url_ = ::pactwatch::testutils::shared_postgres().create_database("conformance_" + std::to_string(++counter));
    }
    store_ = reopen();
    ASSERT_GT(store_->migrate(conformance::t(0)), 0);
  }

  std::unique_ptr<Store> reopen() {
    auto s = Store::open({url_, "", 4});
    if (!s) throw std::runtime_error(s.error());
    return std::move(*s);
  }

  ::pactwatch::testutils::TempDir dir_;
  std::string url_;
  std::unique_ptr<Store> store_;
};

}  // namespace pactwatch::store
