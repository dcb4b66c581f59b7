// The partners the store knows (from partners.yaml), active or not.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "pactwatch/core/time.h"
#include "pactwatch/store/database.h"

namespace pactwatch::store {

struct Partner {
  std::string id;
  std::string name;
  std::string kind;
  std::string tier;
  bool active = true;
};

class Partners {
 public:
  explicit Partners(Database& db) : db_(db) {}
  // Upserts the given set and marks partners no longer listed inactive (their items stay).
  void sync(std::span<const Partner> partners, core::Instant now);
  [[nodiscard]] std::vector<Partner> all();

 private:
  Database& db_;
};

}  // namespace pactwatch::store
