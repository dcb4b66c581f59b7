// The items the store keeps (tickets, deals, surveys, events), keyed by (source, kind, external id).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pactwatch/core/item.h"
#include "pactwatch/core/time.h"
#include "pactwatch/store/database.h"

namespace pactwatch::store {

// Items are a core type (pactwatch/core/item.h); the store keeps them.
using Item = core::Item;

struct UpsertCounts {
  std::int64_t written = 0;    // inserted or changed
  std::int64_t unchanged = 0;  // identical to what was stored
};

// A long write abandoned because the daemon is stopping (PageWrite::abort); nothing was stored.
class WriteAbandoned : public StoreError {
 public:
  using StoreError::StoreError;
};

class Items {
 public:
  explicit Items(Database& db) : db_(db) {}
  // Upserts items in one transaction.
  UpsertCounts upsert(std::span<const Item> items);
  [[nodiscard]] std::optional<Item> find(const std::string& source, const std::string& kind, const std::string& external_id);
  // The stored versions of many items of one source and kind at once, in the order of
  // `external_ids` (nothing where none is stored; an id given twice is answered twice): what
  // find answers for each, read with one statement per 500 ids instead of one per id.
  [[nodiscard]] std::vector<std::optional<Item>> find_many(const std::string& source, const std::string& kind,
                                                           std::span<const std::string> external_ids);
  [[nodiscard]] std::int64_t count(const std::optional<std::string>& source = std::nullopt);
  // Every item attributed to a partner, ordered by source and external id.
  [[nodiscard]] std::vector<Item> of_partner(const std::string& partner_id);
  // The partner's items that can count in [start, end): tickets created in it, solved in it or
  // still open from before it; surveys and events of it; every deal (deals count by instants in
  // their payload). A superset the evaluator narrows, in no particular order (readers key them).
  [[nodiscard]] std::vector<Item> for_period(const std::string& partner_id, core::Instant start, core::Instant end);
  // The partner's items of one kind (deals for commission and clawback), ordered by source and id.
  [[nodiscard]] std::vector<Item> of_kind(const std::string& partner_id, const std::string& kind);

 private:
  Database& db_;
};

}  // namespace pactwatch::store
