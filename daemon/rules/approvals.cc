#include "pactwatch/rules/approvals.h"

#include <algorithm>

namespace pactwatch::rules {

namespace {

std::string note_of(const core::Agreement& a) {
  auto who = [](const std::optional<core::ContractAction>& act) { return act->actor_name.empty() ? act->actor : act->actor_name; };
  switch (a.state) {
    case core::AgreementState::approved:
      return "approved by " + who(a.brand_approval) + " (brand) and " + who(a.partner_approval) + " (partner), recorded";
    case core::AgreementState::approved_by_brand:
      return "proposed; approved by " + who(a.brand_approval) + " (brand), awaiting the partner";
    case core::AgreementState::approved_by_partner:
      return "proposed; approved by " + who(a.partner_approval) + " (partner), awaiting the brand";
    case core::AgreementState::proposed: return "proposed, awaiting both approvals";
    case core::AgreementState::changed: return "changed since it was proposed: the brand proposes it again";
    case core::AgreementState::draft: return "not proposed";
    case core::AgreementState::rejected:
    case core::AgreementState::withdrawn: {
      const auto& c = *a.closing;
      std::string n = std::string(to_string(a.state)) + " by " + who(a.closing) + " (" + std::string(to_string(c.party)) + ")";
      if (!c.comment.empty()) n += ": " + c.comment;
      return n;
    }
    case core::AgreementState::superseded: return "superseded by a later proposal";
  }
  return {};
}

}  // namespace

std::vector<core::ContractAction> acts_on(const ContractVersion& v, std::span<const core::ContractAction> acts) {
  std::vector<core::ContractAction> out;
  for (const auto& a : acts) {
    if (a.contract == v.contract && a.version == v.version) out.push_back(a);
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
  return out;
}

bool later_version_proposed(const ContractVersion& v, std::span<const core::ContractAction> acts) {
  return std::any_of(acts.begin(), acts.end(), [&](const core::ContractAction& a) {
    return a.contract == v.contract && a.version > v.version && a.act == core::ContractAct::propose;
  });
}

core::Diagnostics apply_recorded_approvals(RuleSet& set, std::span<const core::ContractAction> acts) {
  for (auto& v : set.contracts) {
    const auto mine = acts_on(v, acts);
    const auto agreement = core::agreement_of(mine, v.sha256, later_version_proposed(v, acts));
    v.enforced = agreement.agreed();
    v.status_note = note_of(agreement);
    v.unverified_approvals.clear();
    for (const auto& a : v.approvals) {
      // Backed when the party's approval in force (not one a later proposal, a rejection or a
      // withdrawal cancelled) names the same content.
      const auto& in_force = a.party == "brand" ? agreement.brand_approval : agreement.partner_approval;
      const bool backed = in_force && !agreement.closing && in_force->sha256 == a.sha256;
      if (!backed) v.unverified_approvals.push_back(a);
    }
    v.agreement = agreement;
  }
  return enforced_overlaps(set);
}

std::expected<const ContractVersion*, std::string> find_version(const RuleSet& set, const std::string& contract, int version) {
  std::string versions;
  for (const auto& v : set.contracts) {
    if (v.contract != contract) continue;
    if (v.version == version) return &v;
    versions += (versions.empty() ? "v" : ", v") + std::to_string(v.version);
  }
  if (versions.empty()) {
    std::vector<std::string_view> ids;
    for (const auto& v : set.contracts) ids.push_back(v.contract);
    std::string msg = "no contract '" + contract + "' in the rules";
    if (auto hint = core::did_you_mean(contract, ids); !hint.empty()) msg += "; " + hint;
    return std::unexpected(msg);
  }
  return std::unexpected("contract '" + contract + "' has no v" + std::to_string(version) + " (it has " + versions + ")");
}

}  // namespace pactwatch::rules
