#include "pactwatch/core/item.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include <nlohmann/json.hpp>

namespace pactwatch::core {

namespace {

// The statuses a ticket is solved in (as the engine's timers read them: lower case).
bool is_solved(const std::string& status) { return status == "solved" || status == "closed"; }

}  // namespace

std::vector<Instant> counting_instants(const Item& item) {
  std::vector<Instant> out;
  if (item.created_at) out.push_back(*item.created_at);
  if (item.solved_at) out.push_back(*item.solved_at);
  const auto payload = nlohmann::json::parse(item.payload, nullptr, false);
  if (!payload.is_object()) return out;
  if (item.kind == "tickets") {
    // The status history in time order (equal instants keep their written order); entries the
    // engine would refuse are skipped: the ticket then counts by its other instants.
    const auto history = payload.find("status_history");
    if (history == payload.end() || !history->is_array()) return out;
    std::vector<std::pair<Instant, bool>> statuses;  // (at, solved)
    for (const auto& e : *history) {
      if (!e.is_object() || !e.contains("at") || !e["at"].is_string() || !e.contains("status") || !e["status"].is_string()) {
        continue;
      }
      const auto at = parse_rfc3339(e["at"].get<std::string>());
      if (!at) continue;
      std::string status = e["status"].get<std::string>();
      std::transform(status.begin(), status.end(), status.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      statuses.emplace_back(*at, is_solved(status));
    }
    std::stable_sort(statuses.begin(), statuses.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    bool solved = false;
    for (const auto& [at, now_solved] : statuses) {
      if (now_solved && !solved) out.push_back(at);  // a run of solved statuses starts here
      solved = now_solved;
    }
  } else if (item.kind == "deals") {
    for (const char* key : {"closed_at", "registered_at"}) {
      if (payload.contains(key) && payload[key].is_string()) {
        if (auto t = parse_rfc3339(payload[key].get<std::string>())) out.push_back(*t);
      }
    }
  }
  return out;
}

}  // namespace pactwatch::core
