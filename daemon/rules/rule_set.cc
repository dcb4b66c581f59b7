#include "pactwatch/rules/rule_set.h"

#include <algorithm>

#include "pactwatch/calendar/calendar_file.h"

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
  set.calendars.emplace("24x7", calendar::Calendar::always_open());
  const auto calendars_dir = dir / "calendars";
  if (std::filesystem::is_directory(calendars_dir, ec)) {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(calendars_dir, ec)) {
      if (entry.path().extension() == ".yaml") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      const std::string name = f.stem().string();
      if (name == "24x7") {
        problems.push_back({f.string(), 0, 0, "'24x7' is the built-in always-open calendar; choose another name"});
        continue;
      }
      auto spec = calendar::load_calendar_file(f);
      if (!spec) {
        problems.insert(problems.end(), spec.error().begin(), spec.error().end());
        continue;
      }
      auto cal = calendar::Calendar::compile(*spec);
      if (!cal) {
        problems.push_back({f.string(), 0, 0, cal.error()});
        continue;
      }
      set.calendars.emplace(name, std::move(*cal));
    }
  }
  if (!problems.empty()) return std::unexpected(std::move(problems));
  return set;
}

}  // namespace pactwatch::rules
