#include "pactwatch/rules/partners.h"

#include <fstream>
#include <set>
#include <sstream>

#include "pactwatch/config/yaml_check.h"

namespace pactwatch::rules {

using config::YamlReport;

bool is_slug(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  if (s.front() == '-' || s.back() == '-') return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

namespace {

std::string scalar(const YAML::Node& node, std::string_view what, YamlReport& report, bool required = true) {
  if (!node || node.IsNull()) {
    if (required) report.error_at_file(std::string(what) + " is missing");
    return {};
  }
  if (!node.IsScalar()) {
    report.error(node, std::string(what) + ": expected a string, got " + std::string(config::node_kind(node)));
    return {};
  }
  return node.Scalar();
}

void parse_partner(const YAML::Node& node, std::size_t index, YamlReport& report, std::set<std::string>& ids,
                   std::vector<PartnerDef>& out) {
  std::string where = "partner #" + std::to_string(index + 1);
  if (!node.IsMap()) {
    report.error(node, where + ": expected a mapping with id, name and kind");
    return;
  }
  if (node["id"] && node["id"].IsScalar()) where = "partner '" + node["id"].Scalar() + "'";
  report.check_keys(node, {"id", "name", "kind", "tier", "contacts", "external_ids"}, where);
  PartnerDef p;
  auto required = [&](const char* key) -> std::string {
    const YAML::Node v = node[key];
    if (!v || v.IsNull()) {
      report.error(node, where + ": missing required key '" + key + "'");
      return {};
    }
    return scalar(v, where + ": " + key, report);
  };
  p.id = required("id");
  if (!p.id.empty()) {
    if (!is_slug(p.id)) {
      report.error(node["id"], where + ": id must be a slug of lower-case letters, digits and '-' (at most 64)");
    } else if (!ids.insert(p.id).second) {
      report.error(node["id"], where + ": duplicate partner id");
    }
  }
  p.name = required("name");
  p.kind = required("kind");
  if (!p.kind.empty()) {
    bool known = false;
    std::vector<std::string_view> kinds(std::begin(kPartnerKinds), std::end(kPartnerKinds));
    for (auto k : kinds) known = known || k == p.kind;
    if (!known) {
      std::string msg = where + ": unknown kind '" + p.kind +
                        "' (expected reseller, distributor, var, si, oem, outsourcer or supplier)";
      if (auto hint = core::did_you_mean(p.kind, kinds); !hint.empty()) msg += "; " + hint;
      report.error(node["kind"], msg);
    }
  }
  p.tier = scalar(node["tier"], where + ": tier", report, false);

  if (const YAML::Node contacts = node["contacts"]; contacts && !contacts.IsNull()) {
    if (!contacts.IsSequence()) {
      report.error(contacts, where + ": contacts must be a list of {role, email}");
    } else {
      for (const auto& c : contacts) {
        if (!c.IsMap()) {
          report.error(c, where + ": a contact must be a mapping {role, email}");
          continue;
        }
        report.check_keys(c, {"role", "email"}, where + ": contact");
        Contact contact{scalar(c["role"], where + ": contact role", report, false),
                        scalar(c["email"], where + ": contact email", report, false)};
        if (contact.email.empty()) {
          report.error(c, where + ": a contact needs an email");
        } else if (auto at = contact.email.find('@'); at == std::string::npos || at == 0 ||
                                                     at + 1 >= contact.email.size()) {
          report.error(c["email"], where + ": '" + contact.email + "' is not an email address");
        }
        p.contacts.push_back(std::move(contact));
      }
    }
  }

  if (const YAML::Node ext = node["external_ids"]; ext && !ext.IsNull()) {
    if (!ext.IsMap()) {
      report.error(ext, where + ": external_ids must map a source to an id or a list of ids");
    } else {
      for (const auto& kv : ext) {
        const std::string source = kv.first.Scalar();
        const YAML::Node source_ids = kv.second;
        auto& list = p.external_ids[source];
        if (source_ids.IsScalar()) {
          list.push_back(source_ids.Scalar());
        } else if (source_ids.IsSequence()) {
          for (const auto& v : source_ids) {
            if (v.IsScalar()) list.push_back(v.Scalar());
            else report.error(v, where + ": external_ids." + source + ": expected an id");
          }
        } else {
          report.error(source_ids, where + ": external_ids." + source + ": expected an id or a list of ids");
        }
      }
    }
  }
  out.push_back(std::move(p));
}

}  // namespace

std::expected<std::vector<PartnerDef>, core::Diagnostics> parse_partners(std::string_view text,
                                                                         std::string_view name) {
  YamlReport report{std::string(name)};
  YAML::Node root = config::parse_yaml(text, report);
  std::vector<PartnerDef> out;
  if (report.ok()) {
    if (!root.IsMap()) {
      report.error(root, "expected a mapping with a 'partners' list");
    } else {
      report.check_keys(root, {"partners"}, "partners file");
      const YAML::Node list = root["partners"];
      if (!list || list.IsNull()) {
        report.error(root, "missing key 'partners'");
      } else if (!list.IsSequence()) {
        report.error(list, "partners: expected a list");
      } else {
        std::set<std::string> ids;
        for (std::size_t i = 0; i < list.size(); ++i) parse_partner(list[i], i, report, ids, out);
      }
    }
  }
  if (!report.ok()) return std::unexpected(std::move(report.diagnostics()));
  return out;
}

std::expected<std::vector<PartnerDef>, core::Diagnostics> load_partners(const std::filesystem::path& file) {
  auto text = core::read_file(file);
  if (!text) return std::unexpected(core::Diagnostics{{file.string(), 0, 0, "cannot read the partners file"}});
  return parse_partners(*text, file.string());
}

}  // namespace pactwatch::rules
