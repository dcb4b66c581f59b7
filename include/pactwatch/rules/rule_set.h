// Everything under the rules directory, loaded and validated as one set. A reload builds a new set
// aside and swaps it in only when all of it is valid.
#pragma once

#include <expected>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "pactwatch/calendar/calendar.h"
#include "pactwatch/core/diagnostic.h"
#include "pactwatch/rules/contract.h"
#include "pactwatch/rules/partners.h"

namespace pactwatch::rules {

struct RuleSet {
  std::filesystem::path dir;
  std::vector<PartnerDef> partners;
  // calendars/NAME.yaml by NAME, plus the built-in "24x7".
  std::map<std::string, calendar::Calendar> calendars;
  // A SHA-256 of what each calendar says (hours, holidays with iCalendar imports expanded,
  // overrides, breaks, zone): a closed statement records its calendar's, so a re-derivation can
  // tell a calendar changed since the close from a statement that was altered.
  std::map<std::string, std::string> calendar_digests;
  // contracts/*.yaml, sorted by contract id then version.
  std::vector<ContractVersion> contracts;

  [[nodiscard]] const PartnerDef* partner(std::string_view id) const;
};

// Everything that loaded, and every problem found (a partial set when there are problems).
struct RuleSetReport {
  RuleSet set;
  core::Diagnostics problems;
};
// What decides enforcement while loading: the files' approvals blocks (a rules directory checked
// alone, `pactwatch test`), or nothing yet, because the store's recorded approvals will
// (ledger::rules_in_force): then no version is enforced until they are applied, and no file's
// approvals can make the set fail to load.
enum class Enforcement { from_files, recorded_later };
[[nodiscard]] RuleSetReport check_rule_set(const std::filesystem::path& dir, Enforcement e = Enforcement::from_files);

// Loads rules_dir/partners.yaml (optional: no file means no partners yet), every
// rules_dir/calendars/*.yaml and every rules_dir/contracts/*.yaml, and checks the references
// between them. A missing directory is an error. Every problem in every file is reported.
[[nodiscard]] std::expected<RuleSet, core::Diagnostics> load_rule_set(const std::filesystem::path& dir,
                                                                     Enforcement e = Enforcement::from_files);

// Two enforced versions of one contract in effect on the same day, each at the later version's
// `effective` key. Loading checks it with the file's approvals; applying the recorded approvals
// (rules/approvals.h) checks it again with what they enforce.
[[nodiscard]] core::Diagnostics enforced_overlaps(const RuleSet& set);

}  // namespace pactwatch::rules
