// An item: one normalized record from a source (a ticket, a deal, a survey response or an event).
// A domain type below storage: the engine and compensation read items without knowing where they
// are kept; the store keeps them (store::Item is this type).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "pactwatch/core/time.h"

namespace pactwatch::core {

// (source, kind, external_id) identifies an item (a source may number tickets and ratings alike);
// re-ingesting it is an idempotent upsert.
struct Item {
  std::string source;
  std::string external_id;
  std::string kind;                       // tickets, deals, surveys, events
  std::optional<std::string> partner_id;  // empty: not attributed to any partner
  std::string status;
  std::string priority;
  std::optional<Instant> created_at;
  std::optional<Instant> first_reply_at;
  std::optional<Instant> solved_at;  // the latest solve the record shows (docs/import.md)
  Instant updated_at{};
  std::optional<std::int64_t> amount_minor;  // deals: money in minor units of `currency`
  std::string currency;
  std::string payload = "{}";  // JSON: status history, tags, custom fields

  friend bool operator==(const Item&, const Item&) = default;
};

}  // namespace pactwatch::core
