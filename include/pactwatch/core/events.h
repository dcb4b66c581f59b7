// The notification events pactwatch emits (docs/notifications.md): a rule's status change or a
// closed statement, which a contract's `notify` block routes, and the acts of one party to the
// other on a contract's agreement, a dispute or a correction, which go to the party that did not act
// (`contract.enforced` to both).
#pragma once

#include <algorithm>
#include <array>
#include <string>
#include <string_view>

namespace pactwatch::core {

inline constexpr std::array<std::string_view, 6> kRuleEvents{"kpi.breached",      "kpi.at_risk",         "kpi.recovered",
                                                             "standard.violated", "obligation.breached", "statement.closed"};
inline constexpr std::array<std::string_view, 10> kContractEvents{
    "contract.proposed", "contract.approved",   "contract.rejected",   "contract.withdrawn",  "contract.enforced",
    "dispute.opened",    "dispute.resolved",    "correction.proposed", "correction.accepted", "correction.rejected"};

[[nodiscard]] inline bool is_rule_event(std::string_view type) {
  return std::find(kRuleEvents.begin(), kRuleEvents.end(), type) != kRuleEvents.end();
}
[[nodiscard]] inline bool is_contract_event(std::string_view type) {
  return std::find(kContractEvents.begin(), kContractEvents.end(), type) != kContractEvents.end();
}

// "a, b, c": the names, for messages that say what is allowed.
template <std::size_t N>
[[nodiscard]] std::string event_list(const std::array<std::string_view, N>& types) {
  std::string out;
  for (const auto t : types) out += (out.empty() ? "" : ", ") + std::string(t);
  return out;
}

}  // namespace pactwatch::core
