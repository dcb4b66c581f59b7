#include "pactwatch/rules/rule_set.h"

namespace pactwatch::rules {

std::expected<RuleSet, core::Diagnostics> load_rule_set(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return std::unexpected(core::Diagnostics{{dir.string(), 0, 0, "the rules directory does not exist"}});
  }
  RuleSet set;
  set.dir = dir;
  core::Diagnostics problems;
  const auto partners_file = dir / "partners.yaml";
  if (std::filesystem::exists(partners_file, ec)) {
    if (auto partners = load_partners(partners_file)) {
      set.partners = std::move(*partners);
    } else {
      problems.insert(problems.end(), partners.error().begin(), partners.error().end());
    }
  }
  if (!problems.empty()) return std::unexpected(std::move(problems));
  return set;
}

}  // namespace pactwatch::rules
