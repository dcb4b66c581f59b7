#include "pactwatch/core/agreement.h"

#include <algorithm>

namespace pactwatch::core {

std::string_view to_string(Party p) { return p == Party::brand ? "brand" : "partner"; }

std::optional<Party> party_from(std::string_view s) {
  if (s == "brand") return Party::brand;
  if (s == "partner") return Party::partner;
  return std::nullopt;
}

namespace {
constexpr std::pair<ContractAct, std::string_view> kActs[] = {
    {ContractAct::propose, "propose"}, {ContractAct::approve, "approve"},   {ContractAct::reject, "reject"},
    {ContractAct::request_changes, "request_changes"}, {ContractAct::withdraw, "withdraw"}, {ContractAct::comment, "comment"},
};
}  // namespace

std::string_view to_string(ContractAct a) {
  for (const auto& [act, name] : kActs) {
    if (act == a) return name;
  }
  return "comment";
}

std::optional<ContractAct> contract_act_from(std::string_view s) {
  for (const auto& [act, name] : kActs) {
    if (name == s) return act;
  }
  return std::nullopt;
}

std::string_view to_string(AgreementState s) {
  switch (s) {
    case AgreementState::draft: return "draft";
    case AgreementState::proposed: return "proposed";
    case AgreementState::approved_by_brand: return "approved_by_brand";
    case AgreementState::approved_by_partner: return "approved_by_partner";
    case AgreementState::approved: return "approved";
    case AgreementState::changed: return "changed";
    case AgreementState::rejected: return "rejected";
    case AgreementState::withdrawn: return "withdrawn";
    case AgreementState::superseded: return "superseded";
  }
  return "draft";
}

Agreement agreement_of(std::span<const ContractAction> acts, const std::string& current_sha256, bool later_proposed) {
  std::vector<const ContractAction*> ordered;
  for (const auto& a : acts) ordered.push_back(&a);
  std::stable_sort(ordered.begin(), ordered.end(), [](const auto* a, const auto* b) { return a->seq < b->seq; });

  Agreement out;
  for (const auto* a : ordered) {
    switch (a->act) {
      case ContractAct::propose:
        // A new proposal starts afresh: approvals and refusals of what was proposed before are history.
        out.proposed_sha256 = a->sha256;
        out.brand_approval.reset();
        out.partner_approval.reset();
        out.closing.reset();
        break;
      case ContractAct::approve:
        (a->party == Party::brand ? out.brand_approval : out.partner_approval) = *a;
        break;
      case ContractAct::reject:
      case ContractAct::request_changes:
      case ContractAct::withdraw:
        out.closing = *a;
        break;
      case ContractAct::comment: break;
    }
  }
  // Approvals count only for the content they name, which must be the content proposed and still
  // the version's content.
  auto counts = [&](std::optional<ContractAction>& approval) {
    if (approval && (approval->sha256 != current_sha256 || out.proposed_sha256 != current_sha256)) approval.reset();
  };
  counts(out.brand_approval);
  counts(out.partner_approval);

  if (out.closing) {
    out.state = out.closing->act == ContractAct::withdraw ? AgreementState::withdrawn : AgreementState::rejected;
  } else if (!out.proposed_sha256) {
    out.state = AgreementState::draft;
  } else if (out.brand_approval && out.partner_approval) {
    out.state = AgreementState::approved;
  } else if (later_proposed) {
    out.state = AgreementState::superseded;
  } else if (*out.proposed_sha256 != current_sha256) {
    out.state = AgreementState::changed;
  } else if (out.brand_approval) {
    out.state = AgreementState::approved_by_brand;
  } else if (out.partner_approval) {
    out.state = AgreementState::approved_by_partner;
  } else {
    out.state = AgreementState::proposed;
  }
  return out;
}

std::expected<void, std::string> check_act(const Agreement& agreement, const ContractAction& act, const std::string& current_sha256) {
  const auto state = agreement.state;
  const std::string who(to_string(act.party));
  const std::string where = act.contract + " v" + std::to_string(act.version);
  const bool blank = act.comment.find_first_not_of(" \t\r\n") == std::string::npos;
  if (act.act == ContractAct::comment && blank) return std::unexpected("the comment is empty");
  // Refusals that hold whatever the act.
  switch (state) {
    case AgreementState::rejected:
    case AgreementState::withdrawn:
    case AgreementState::superseded:
      if (act.act == ContractAct::comment) return {};
      return std::unexpected(where + " was " + std::string(to_string(state)) + ": the brand proposes a new version");
    case AgreementState::approved:
      if (act.act == ContractAct::comment) return {};
      return std::unexpected(where + " is already agreed by both parties: a change is a new version");
    default: break;
  }
  switch (act.act) {
    case ContractAct::propose:
      if (act.party != Party::brand) return std::unexpected("only the brand proposes a contract version");
      if (act.sha256 != current_sha256) return std::unexpected("the content to propose is not " + where + "'s current content");
      if (state != AgreementState::draft && state != AgreementState::changed) {
        return std::unexpected(where + " is already proposed (" + std::string(to_string(state)) + ")");
      }
      return {};
    case ContractAct::approve:
      if (state == AgreementState::draft) return std::unexpected(where + " has not been proposed");
      if (state == AgreementState::changed) {
        return std::unexpected(where + "'s content changed after it was proposed: the brand proposes it again");
      }
      if (act.sha256 != current_sha256) {
        return std::unexpected("stale approval: it names content " + act.sha256.substr(0, 12) + "…, but " + where +
                               "'s content is now " + current_sha256.substr(0, 12) + "…");
      }
      if ((act.party == Party::brand && agreement.brand_approval) || (act.party == Party::partner && agreement.partner_approval)) {
        return std::unexpected(where + " is already approved by the " + who);
      }
      return {};
    case ContractAct::reject:
    case ContractAct::request_changes:
      if (state == AgreementState::draft) return std::unexpected(where + " has not been proposed");
      if (blank) return std::unexpected("say why: a rejection or a change request needs a comment");
      return {};
    case ContractAct::withdraw:
      if (act.party != Party::brand) return std::unexpected("only the brand withdraws its proposal");
      if (state == AgreementState::draft) return std::unexpected(where + " has not been proposed");
      return {};
    case ContractAct::comment:
      if (state == AgreementState::draft) return std::unexpected(where + " has not been proposed: comments go on a proposal");
      if (blank) return std::unexpected("the comment is empty");
      return {};
  }
  return {};
}

}  // namespace pactwatch::core
