#include "pactwatch/rules/compare.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <tuple>


namespace pactwatch::rules {

namespace {

using nlohmann::json;

// The sections whose lists hold rules with ids.
bool rule_section(const std::string& key) { return key == "kpis" || key == "brand_standards" || key == "obligations"; }

// A leaf's place: (section, rule, path).
using Place = std::tuple<std::string, std::string, std::string>;

std::string joined(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

// Every scalar of `v` by its place; an empty object or list is a leaf too (its presence is a term).
void flatten(const json& v, const std::string& section, const std::string& rule, const std::string& path,
             std::map<Place, std::string>& out) {
  if (v.is_object() && !v.empty()) {
    for (const auto& [k, child] : v.items()) flatten(child, section, rule, joined(path, k), out);
  } else if (v.is_array() && !v.empty()) {
    for (std::size_t i = 0; i < v.size(); ++i) flatten(v[i], section, rule, path + "[" + std::to_string(i) + "]", out);
  } else {
    out[{section, rule, path}] = v.is_string() ? v.get<std::string>() : v.dump();
  }
}

std::expected<std::map<Place, std::string>, std::string> leaves(std::string_view canonical, const char* which,
                                                               std::map<std::pair<std::string, std::string>, bool>& rules) {
  std::map<Place, std::string> out;
  if (canonical.empty()) return out;
  const json doc = json::parse(canonical, nullptr, false);
  if (!doc.is_object()) return std::unexpected(std::string(which) + " is not a contract's canonical form");
  for (const auto& [section, v] : doc.items()) {
    if (section == "version") continue;
    if (rule_section(section) && v.is_array()) {
      for (std::size_t i = 0; i < v.size(); ++i) {
        const json& r = v[i];
        const std::string id = r.is_object() && r.contains("id") && r["id"].is_string() ? r["id"].get<std::string>()
                                                                                      : "#" + std::to_string(i + 1);
        rules[{section, id}] = true;
        if (r.is_object()) {
          for (const auto& [k, child] : r.items()) {
            if (k != "id") flatten(child, section, id, k, out);
          }
        } else {
          flatten(r, section, id, "", out);
        }
      }
    } else {
      flatten(v, section, "", "", out);
    }
  }
  return out;
}

}  // namespace

std::expected<Comparison, std::string> compare_contracts(std::string_view before, std::string_view after) {
  std::map<std::pair<std::string, std::string>, bool> rules_before, rules_after;
  auto a = leaves(before, "the version in force", rules_before);
  if (!a) return std::unexpected(a.error());
  auto b = leaves(after, "the proposal", rules_after);
  if (!b) return std::unexpected(b.error());
  Comparison out;
  auto ia = a->begin();
  auto ib = b->begin();
  // Both maps are sorted by place: one merge walk.
  while (ia != a->end() || ib != b->end()) {
    if (ib == b->end() || (ia != a->end() && ia->first < ib->first)) {
      out.terms.push_back({std::get<0>(ia->first), std::get<1>(ia->first), std::get<2>(ia->first), ia->second, std::nullopt});
      ++ia;
    } else if (ia == a->end() || ib->first < ia->first) {
      out.terms.push_back({std::get<0>(ib->first), std::get<1>(ib->first), std::get<2>(ib->first), std::nullopt, ib->second});
      ++ib;
    } else {
      if (ia->second != ib->second) {
        out.terms.push_back({std::get<0>(ia->first), std::get<1>(ia->first), std::get<2>(ia->first), ia->second, ib->second});
      }
      ++ia;
      ++ib;
    }
  }
  std::map<std::pair<std::string, std::string>, RuleChange::Kind> kinds;
  for (const auto& [k, _] : rules_before) {
    if (!rules_after.count(k)) kinds[k] = RuleChange::Kind::dropped;
  }
  for (const auto& [k, _] : rules_after) {
    if (!rules_before.count(k)) kinds[k] = RuleChange::Kind::added;
  }
  for (const auto& t : out.terms) {
    if (!t.rule.empty() && !kinds.count({t.section, t.rule})) kinds[{t.section, t.rule}] = RuleChange::Kind::changed;
  }
  for (const auto& [k, kind] : kinds) out.rules.push_back({k.first, k.second, kind});
  return out;
}

}  // namespace pactwatch::rules
