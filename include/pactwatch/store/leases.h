// Leases on work shared by several instances of one database (docs/scaling.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pactwatch/core/time.h"
#include "pactwatch/store/database.h"

namespace pactwatch::store {

// A lease on a piece of work shared by several instances (see Leases::claim).
struct LeaseRecord {
  std::string name;    // "source:zendesk", "partner:northwind"
  std::string holder;  // the instance holding it
  core::Instant expires_at{};
  std::int64_t fence = 0;  // grows by one each time the lease changes hands
};

// The lease a writer must still hold for its write to count (store_page checks it in the
// page's own transaction).
struct LeaseGuard {
  std::string name;
  std::string holder;
  std::int64_t fence = 0;
};

// A write refused because the writer's lease has passed to another holder; nothing was stored.
class LeaseLost : public StoreError {
 public:
  using StoreError::StoreError;
};

class Leases {
 public:
  explicit Leases(Database& db) : db_(db) {}
  // Takes the lease `name` for `holder` until now + ttl when it is free, expired, or already the
  // holder's (a renewal), in one atomic statement; returns the fence (which grows each time the
  // lease changes hands), or nothing when another holder's lease is still running.
  [[nodiscard]] std::optional<std::int64_t> claim(const std::string& name, const std::string& holder, core::Instant now,
                                                  std::chrono::milliseconds ttl);
  // Gives the lease up at once (only its holder can); false when `holder` did not hold it.
  bool release(const std::string& name, const std::string& holder);
  [[nodiscard]] std::vector<LeaseRecord> all();

 private:
  Database& db_;
};

}  // namespace pactwatch::store
