// Statements against the store: an open period's statement is computed from the stored items as of
// an instant (with what closed periods left: carry-forward, credits to earn back, adjustments for
// late data); a closed period's is read back, frozen. Closing a period stores its statements in
// one durable transaction. The compensation module computes; this is where the I/O happens.
#pragma once

#include <expected>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "pactwatch/compensation/statement.h"
#include "pactwatch/engine/evaluate.h"
#include "pactwatch/rules/rule_set.h"
#include "pactwatch/store/store.h"

namespace pactwatch::ledger {

// One statement as shown to finance: the closed one when its period is closed, else computed.
struct StatementView {
  const rules::ContractVersion* contract = nullptr;
  engine::PeriodWindow period;
  std::string status;  // open, closed, preview, what_if
  nlohmann::json document;
  std::string partner_name;  // the partner's display name (partners.yaml)
};

// A closed statement whose stored parts disagree with each other (its document and its hash, an
// amount column and the document, a link of its contract's chain): the ledger reads no money from
// it and says what is wrong; `pactwatch ledger verify` reports every such break.
class LedgerDamaged : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What re-deriving a closed statement from its stored inputs gave.
struct Rederived {
  enum class Kind {
    same,            // the same document (or, closed by another engine version, the same amounts)
    inputs_changed,  // an input it read changed since the close (late data): not a break
    differs,         // its inputs are unchanged, yet it re-derives differently: a break
    not_rederived,   // cannot be re-derived (contract version no longer in the rules, or changed)
  } kind = Kind::same;
  std::string detail;
  nlohmann::json document;  // the re-derived document (same, inputs_changed, differs)
};

// What `period close` did for one contract version.
struct CloseOutcome {
  std::string contract;
  int version = 0;
  std::string partner;
  std::string period;
  enum class Kind { closed, reproduced, differs, skipped_draft } kind = Kind::closed;
  std::string total;   // of the closed statement
  std::string detail;  // for differs and skipped: what and why
};

// One closed period priced again under a proposed contract version's terms.
struct RepricedPeriod {
  std::string period;
  int closed_version = 0;          // the version the period closed under
  core::Money closed_own;          // what it paid, its own lines (before carry-forward and adjustments)
  std::optional<core::Money> proposed_own;  // the same under the proposal; none when it cannot say (`note`)
  std::string note;
  nlohmann::json document;  // the proposal's statement for the period (status what_if), or null
};

class Statements {
 public:
  Statements(const rules::RuleSet& rules, store::Store& store) : rules_(rules), store_(store) {}

  // The statements of every contract version in effect during the period `label` (of one partner
  // or of all), as of `as_of`. With `what_if`, KPIs take the given values ("csat" -> "92%") and
  // nothing closed is read: the statement is computed as it would be.
  [[nodiscard]] std::expected<std::vector<StatementView>, std::string> for_period(
      const std::string& label, const std::optional<std::string>& partner, core::Instant as_of,
      const std::map<std::string, std::string>* what_if = nullptr);

  // Closes the period for one partner or all: computes each enforced contract version's statement
  // as of `as_of` and stores them all, or none, in one durable transaction. A period closes only
  // once it has ended and after the period before it (when the contract was in effect then). An
  // already closed one is recomputed as of its own instant and compared: reproduced bit for bit,
  // or the difference is reported (it becomes an adjustment in the next open period).
  //
  // A period with open disputes or corrections (docs/disputes.md) closes only with
  // `with_open_disputes`: its statement then lists them as open (`open_disputes`), and what they
  // change once accepted becomes an adjustment in the first open period.
  [[nodiscard]] std::expected<std::vector<CloseOutcome>, std::string> close(const std::string& label,
                                                                            const std::optional<std::string>& partner,
                                                                            core::Instant as_of, core::Instant now,
                                                                            const std::string& by, bool with_open_disputes = false);

  // The last `periods` closed periods of the proposal's contract, newest first, each priced under
  // the proposal's terms: its KPIs, standards and compensation evaluated over the same items as of
  // the instant the period closed at. Both sides are the period's own lines, so that carry-forward,
  // earn-backs and adjustments that the proposal would only change later do not blur the
  // comparison. Throws LedgerDamaged when a closed statement is damaged.
  [[nodiscard]] std::vector<RepricedPeriod> reprice(const rules::ContractVersion& proposal, std::size_t periods);

  // Re-derives a closed statement from its stored inputs, as of its own instant, and compares it
  // with what was stored. Throws LedgerDamaged when a closed statement it depends on is damaged.
  [[nodiscard]] Rederived rederive(const store::StatementRecord& closed);

 private:
  struct Computed {
    compensation::Statement statement;
    engine::Evaluation evaluation;
  };
  // The enforced and draft contract versions with compensation in effect during the period
  // `label` (of one partner or all), with their windows.
  [[nodiscard]] std::expected<std::vector<std::pair<const rules::ContractVersion*, engine::PeriodWindow>>, std::string>
  versions_in(const std::string& label, const std::optional<std::string>& partner) const;
  // The contract version of `contract_id` in effect during a window (the latest when several).
  const rules::ContractVersion* version_during(const std::string& contract_id, const engine::PeriodWindow& w) const;
  std::optional<engine::PeriodWindow> previous_window(const rules::ContractVersion& c, const engine::PeriodWindow& w) const;
  // How much of what earlier periods left a computation takes in: none (the period's own lines
  // without earn-backs), earn-backs only (its own lines as they stood at close), or everything
  // (carry-forward and adjustments too).
  enum class History { none, earn_back, all };
  // The statement of a period computed from the store.
  Computed compute(const rules::ContractVersion& c, const engine::PeriodWindow& w, core::Instant as_of,
                   const std::string& status, History history, const std::map<std::string, std::string>* what_if);
  // What earlier periods leave a period's statement (History::earn_back and ::all), step by step:
  // the carry-forward from the closed period before, the credits that come back, the adjustments
  // for closed periods that now compute differently.
  void add_carry_forward(const rules::ContractVersion& c, const engine::PeriodWindow& prev, compensation::StatementInput& in);
  void add_earn_back(const rules::ContractVersion& c, const engine::PeriodWindow& w, core::Instant as_of,
                     compensation::StatementInput& in);
  void add_adjustments(const rules::ContractVersion& c, const engine::PeriodWindow& w, core::Instant as_of,
                       compensation::StatementInput& in);
  const std::vector<store::Item>& deals_of(const std::string& partner);
  // The accepted disputes and corrections of a contract (the exclusions its evaluations apply, each
  // as of its own instant); cached for the call.
  const std::vector<store::AcceptedDispute>& accepted_of(const std::string& contract);
  // The disputes and corrections of a contract version's period that were open at `at` (opened
  // then, not yet answered or withdrawn), as a closed statement lists them.
  [[nodiscard]] nlohmann::json open_disputes(const rules::ContractVersion& c, const engine::PeriodWindow& w, core::Instant at);
  // The closed statements of a contract, each checked against its own parts and its chain
  // (LedgerDamaged otherwise); cached for the call.
  const std::vector<store::StatementRecord>& closed_of(const std::string& contract);
  // One closed statement, checked with its contract's chain.
  std::optional<store::StatementRecord> closed_one(const std::string& contract, int version, const std::string& label);
  // The period after the last closed one of a contract that must close next (periods in which no
  // enforced version with compensation is in effect are passed over); nothing when none is closed.
  std::optional<engine::PeriodWindow> next_to_close(const rules::ContractVersion& c);

  const rules::RuleSet& rules_;
  store::Store& store_;
  std::map<std::string, std::vector<store::Item>> deals_;
  std::map<std::string, std::vector<store::StatementRecord>> closed_;  // by contract id, per call
  std::map<std::string, std::vector<store::AcceptedDispute>> accepted_;  // by contract id, per call
};

}  // namespace pactwatch::ledger
