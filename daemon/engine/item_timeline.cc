#include "pactwatch/engine/item_timeline.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

namespace pactwatch::engine {

namespace {

std::expected<core::Instant, std::string> instant_at(const nlohmann::json& v, const std::string& where) {
  if (!v.is_string()) return std::unexpected(where + ": expected an RFC 3339 string");
  auto t = core::parse_rfc3339(v.get<std::string>());
  if (!t) return std::unexpected(where + ": " + t.error());
  return *t;
}

std::expected<std::vector<core::Instant>, std::string> instants(const nlohmann::json& payload, const char* key,
                                                                const std::string& item) {
  std::vector<core::Instant> out;
  if (!payload.contains(key)) return out;
  const auto& list = payload[key];
  if (!list.is_array()) return std::unexpected(item + ": " + key + " must be a list of instants");
  for (std::size_t i = 0; i < list.size(); ++i) {
    auto t = instant_at(list[i], item + ": " + key + "[" + std::to_string(i) + "]");
    if (!t) return std::unexpected(t.error());
    out.push_back(*t);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::expected<TicketTimeline, std::string> timeline_from_item(const core::Item& item) {
  const auto payload = nlohmann::json::parse(item.payload, nullptr, false);
  if (payload.is_discarded() || !payload.is_object()) {
    return std::unexpected(item.source + "/" + item.external_id + ": payload is not a JSON object");
  }
  return timeline_from_item(item, payload);
}

std::expected<TicketTimeline, std::string> timeline_from_item(const core::Item& item, const nlohmann::json& payload) {
  const std::string name = item.source + "/" + item.external_id;
  if (!item.created_at) return std::unexpected(name + ": a ticket needs created_at for its timers");
  TicketTimeline t;
  t.created_at = *item.created_at;

  if (payload.contains("status_history")) {
    const auto& hist = payload["status_history"];
    if (!hist.is_array()) return std::unexpected(name + ": status_history must be a list");
    for (std::size_t i = 0; i < hist.size(); ++i) {
      const std::string where = name + ": status_history[" + std::to_string(i) + "]";
      const auto& e = hist[i];
      if (!e.is_object() || !e.contains("status") || !e["status"].is_string() || !e.contains("at")) {
        return std::unexpected(where + " must be {\"at\": instant, \"status\": name}");
      }
      auto at = instant_at(e["at"], where + ".at");
      if (!at) return std::unexpected(at.error());
      std::string status = e["status"].get<std::string>();
      std::transform(status.begin(), status.end(), status.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      t.statuses.push_back({*at, std::move(status)});
    }
    std::stable_sort(t.statuses.begin(), t.statuses.end(),
                     [](const StatusChange& a, const StatusChange& b) { return a.at < b.at; });
  }
  auto comments = instants(payload, "customer_comments", name);
  if (!comments) return std::unexpected(comments.error());
  t.customer_comments = std::move(*comments);
  auto replies = instants(payload, "agent_replies", name);
  if (!replies) return std::unexpected(replies.error());
  t.agent_replies = std::move(*replies);

  if (t.agent_replies.empty() && item.first_reply_at) t.agent_replies.push_back(*item.first_reply_at);
  if (item.solved_at) {
    const bool has_solve = std::any_of(t.statuses.begin(), t.statuses.end(), [](const StatusChange& c) {
      return c.status == "solved" || c.status == "closed";
    });
    if (!has_solve) {
      t.statuses.push_back({*item.solved_at, "solved"});
      std::stable_sort(t.statuses.begin(), t.statuses.end(),
                       [](const StatusChange& a, const StatusChange& b) { return a.at < b.at; });
    }
  }
  return t;
}

}  // namespace pactwatch::engine
