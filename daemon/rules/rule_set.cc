#include "pactwatch/rules/rule_set.h"

#include <algorithm>
#include <set>

#include "pactwatch/calendar/calendar_file.h"
#include "pactwatch/core/digest.h"

namespace pactwatch::rules {

namespace {

std::vector<std::filesystem::path> yaml_files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".yaml") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

core::Diagnostic at_key(const ContractVersion& c, const std::string& key, std::string message) {
  const auto it = c.positions.find(key);
  const auto [line, column] = it == c.positions.end() ? std::pair{0, 0} : it->second;
  return {c.file, line, column, std::move(message)};
}

// partners_failed / failed_calendars: files that did not load. References to them are not
// reported again (the file's own errors say what is wrong).
void check_contracts(RuleSet& set, bool partners_failed, const std::set<std::string>& failed_calendars, Enforcement e,
                     core::Diagnostics& problems) {
  auto& cs = set.contracts;
  std::stable_sort(cs.begin(), cs.end(), [](const ContractVersion& a, const ContractVersion& b) {
    return std::pair(a.contract, a.version) < std::pair(b.contract, b.version);
  });
  for (std::size_t i = 0; i < cs.size(); ++i) {
    const auto& c = cs[i];
    if (!partners_failed && !set.partner(c.partner)) {
      std::vector<std::string_view> ids;
      for (const auto& p : set.partners) ids.push_back(p.id);
      std::string msg = "partner: unknown partner '" + c.partner + "' (not in partners.yaml)";
      if (auto hint = core::did_you_mean(c.partner, ids); !hint.empty()) msg += "; " + hint;
      problems.push_back(at_key(c, "partner", msg));
    }
    if (!failed_calendars.contains(c.calendar) && !set.calendars.contains(c.calendar)) {
      std::vector<std::string_view> names;
      for (const auto& [name, cal] : set.calendars) names.push_back(name);
      std::string msg = "calendar: unknown calendar '" + c.calendar + "' (no calendars/" + c.calendar + ".yaml)";
      if (auto hint = core::did_you_mean(c.calendar, names); !hint.empty()) msg += "; " + hint;
      problems.push_back(at_key(c, "calendar", msg));
    }
    for (std::size_t j = 0; j < i; ++j) {
      const auto& o = cs[j];
      if (o.contract != c.contract) continue;
      if (o.version == c.version) {
        problems.push_back(at_key(c, "version", "version " + std::to_string(c.version) + " of '" + c.contract +
                                                    "' is also defined in " + std::filesystem::path(o.file).filename().string()));
        continue;
      }
      if (o.partner != c.partner) {
        problems.push_back(at_key(c, "partner", "'" + c.contract + "' v" + std::to_string(c.version) + " is for '" +
                                                    c.partner + "' but v" + std::to_string(o.version) + " is for '" +
                                                    o.partner + "'"));
      }
    }
  }
  if (e == Enforcement::recorded_later) {
    for (auto& c : set.contracts) {
      c.enforced = false;
      c.status_note = "approvals not yet read from the store";
    }
    return;
  }
  const auto overlaps = enforced_overlaps(set);
  problems.insert(problems.end(), overlaps.begin(), overlaps.end());
}

// What a calendar says, written out in one fixed order and hashed.
std::string calendar_digest(const calendar::CalendarSpec& spec) {
  std::string t = "zone " + spec.timezone + "\n";
  auto intervals = [&](const std::vector<calendar::LocalInterval>& v) {
    for (const auto& i : v) t += " " + std::to_string(i.start) + "-" + std::to_string(i.end);
    t += "\n";
  };
  auto day = [](calendar::LocalDate d) { return std::to_string(d.time_since_epoch().count()); };
  for (std::size_t d = 0; d < spec.weekly.size(); ++d) {
    t += "weekday " + std::to_string(d);
    intervals(spec.weekly[d]);
  }
  for (const auto& h : spec.holidays) t += "holiday " + day(h) + "\n";
  for (const auto& y : spec.yearly_holidays) t += "yearly " + std::to_string(y.month) + "-" + std::to_string(y.day) + "\n";
  for (const auto& [d, v] : spec.overrides) {
    t += "override " + day(d);
    intervals(v);
  }
  for (const auto& [d, v] : spec.breaks) {
    t += "break " + day(d);
    intervals(v);
  }
  return core::sha256_hex(t);
}

}  // namespace

core::Diagnostics enforced_overlaps(const RuleSet& set) {
  core::Diagnostics problems;
  const auto& cs = set.contracts;
  for (std::size_t i = 0; i < cs.size(); ++i) {
    const auto& c = cs[i];
    for (std::size_t j = 0; j < i; ++j) {
      const auto& o = cs[j];
      if (o.contract != c.contract || o.version == c.version) continue;
      const bool overlap = c.enforced && o.enforced && (!o.effective_until || c.effective_from <= *o.effective_until) &&
                           (!c.effective_until || o.effective_from <= *c.effective_until);
      if (overlap) {
        problems.push_back(at_key(c, "effective", "enforced v" + std::to_string(c.version) + " (from " +
                                                      calendar::format_date(c.effective_from) + ") overlaps enforced v" +
                                                      std::to_string(o.version) + " (" + calendar::format_date(o.effective_from) +
                                                      " to " + (o.effective_until ? calendar::format_date(*o.effective_until) : "open end") +
                                                      ") of '" + c.contract + "'"));
      }
    }
  }
  return problems;
}

const PartnerDef* RuleSet::partner(std::string_view id) const {
  for (const auto& p : partners) {
    if (p.id == id) return &p;
  }
  return nullptr;
}

RuleSetReport check_rule_set(const std::filesystem::path& dir, Enforcement e) {
  RuleSetReport r;
  r.set.dir = dir;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    r.problems.push_back({dir.string(), 0, 0, "the rules directory does not exist"});
    return r;
  }
  const auto partners_file = dir / "partners.yaml";
  bool partners_failed = false;
  std::set<std::string> failed_calendars;
  if (std::filesystem::exists(partners_file, ec)) {
    if (auto partners = load_partners(partners_file)) {
      r.set.partners = std::move(*partners);
    } else {
      partners_failed = true;
      r.problems.insert(r.problems.end(), partners.error().begin(), partners.error().end());
    }
  }
  r.set.calendars.emplace("24x7", calendar::Calendar::always_open());
  r.set.calendar_digests.emplace("24x7", calendar_digest(calendar::Calendar::always_open_spec()));
  for (const auto& f : yaml_files(dir / "calendars")) {
    const std::string name = f.stem().string();
    if (name == "24x7") {
      r.problems.push_back({f.string(), 0, 0, "'24x7' is the built-in always-open calendar; choose another name"});
      continue;
    }
    auto spec = calendar::load_calendar_file(f);
    if (!spec) {
      failed_calendars.insert(name);
      r.problems.insert(r.problems.end(), spec.error().begin(), spec.error().end());
      continue;
    }
    auto cal = calendar::Calendar::compile(*spec);
    if (!cal) {
      failed_calendars.insert(name);
      r.problems.push_back({f.string(), 0, 0, cal.error()});
      continue;
    }
    r.set.calendars.emplace(name, std::move(*cal));
    r.set.calendar_digests.emplace(name, calendar_digest(*spec));
  }
  for (const auto& f : yaml_files(dir / "contracts")) {
    auto c = load_contract(f);
    if (!c) {
      r.problems.insert(r.problems.end(), c.error().begin(), c.error().end());
      continue;
    }
    r.set.contracts.push_back(std::move(*c));
  }
  check_contracts(r.set, partners_failed, failed_calendars, e, r.problems);
  return r;
}

std::expected<RuleSet, core::Diagnostics> load_rule_set(const std::filesystem::path& dir, Enforcement e) {
  auto r = check_rule_set(dir, e);
  if (!r.problems.empty()) return std::unexpected(std::move(r.problems));
  return std::move(r.set);
}

}  // namespace pactwatch::rules
