// An item: one normalized record from a source (a ticket, a deal, a survey response or an event).
// A domain type below storage: the engine and compensation read items without knowing where they
// are kept; the store keeps them (store::Item is this type).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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

// Every instant at which an item can count in a period, whatever the as-of instant
// (docs/evaluation.md, "Which items count"): its creation; its solved_at; for a ticket, the start
// of every run of solved or closed statuses in its status history (its solve instant as of some
// as-of instant: one solved in October and re-solved in November counts in October as of a day
// before the reopen); for a deal, its close and registration (from the payload). An item is an
// input of a period only if one of these lies in it, so re-evaluating the periods holding them,
// for the item's new and its replaced version, keeps stored documents equal to a full
// evaluation; an instant that no longer counts as of now only costs one evaluation more. Used by
// the incremental runner and by the evaluation intents stored pages record, so both ask for the
// same periods.
[[nodiscard]] std::vector<Instant> counting_instants(const Item& item);

}  // namespace pactwatch::core
