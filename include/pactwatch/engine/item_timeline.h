// Builds a ticket's timer input from a stored item: its columns plus the JSON payload's
// "status_history", "customer_comments" and "agent_replies".
#pragma once

#include <expected>
#include <string>

#include <nlohmann/json.hpp>

#include "pactwatch/engine/timers.h"
#include "pactwatch/core/item.h"

namespace pactwatch::engine {

// Payload shape (every key optional):
//   {"status_history": [{"at": "2026-01-05T10:00:00Z", "status": "open"}, ...],
//    "customer_comments": ["2026-01-05T11:00:00Z", ...],
//    "agent_replies": ["2026-01-05T10:15:00Z", ...]}
// A first_reply_at column with no agent_replies counts as the first reply; a solved_at column
// with no solved status in the history adds one. Status names are lower-cased.
[[nodiscard]] std::expected<TicketTimeline, std::string> timeline_from_item(const core::Item& item);
// The same from a payload already parsed (the evaluator parses each payload once).
[[nodiscard]] std::expected<TicketTimeline, std::string> timeline_from_item(const core::Item& item,
                                                                            const nlohmann::json& payload);

}  // namespace pactwatch::engine
