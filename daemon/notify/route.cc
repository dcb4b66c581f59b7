#include <algorithm>

#include "pactwatch/core/events.h"
#include "pactwatch/notify/stages.h"

namespace pactwatch::notify {

Route route(const config::ChannelConfig& channel, const store::OutboxEvent& event, const rules::RuleSet* rules) {
  const rules::ContractVersion* contract = nullptr;
  if (rules) {
    for (const auto& c : rules->contracts) {
      if (c.contract == event.contract && c.version == event.version) contract = &c;
    }
  }
  auto listed = [&](const std::vector<std::string>& list) { return std::find(list.begin(), list.end(), event.type) != list.end(); };
  Route r;
  r.recipients = channel.to;
  r.send = channel.events.empty() || listed(channel.events);
  if (core::is_contract_event(event.type)) {
    // An act on an agreement goes to the party that did not act; the agreement itself to both. The
    // version is not enforced yet, and its notify block is part of what is being agreed: neither
    // decides here.
    const std::string audience = channel.audience == "partner" ? "partner" : "brand";
    const std::string acted = event.subject.substr(0, event.subject.find(':'));  // "partner:RULE" for a dispute
    r.send = r.send && acted != audience;
    if (channel.audience == "partner") {
      r.recipients.clear();
      if (const auto* p = rules ? rules->partner(event.partner) : nullptr) {
        for (const auto& c : p->contacts) {
          if (!c.email.empty()) r.recipients.push_back(c.email);
        }
      }
      r.send = r.send && !r.recipients.empty();
    }
    return r;
  }
  if (channel.audience == "partner") {
    r.send = r.send && contract && contract->enforced && listed(contract->notify_partner);
    r.recipients.clear();
    if (const auto* p = rules ? rules->partner(event.partner) : nullptr) {
      for (const auto& c : p->contacts) {
        if (!c.email.empty()) r.recipients.push_back(c.email);
      }
    }
    r.send = r.send && !r.recipients.empty();
  } else if (contract && contract->notify_brand) {
    r.send = r.send && listed(*contract->notify_brand);
  }
  return r;
}

}  // namespace pactwatch::notify
