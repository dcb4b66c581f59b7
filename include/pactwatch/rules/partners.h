// partners.yaml: who the brand's partners are and how their records are recognised in each source.
#pragma once

#include <expected>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "pactwatch/core/diagnostic.h"

namespace pactwatch::rules {

inline constexpr std::string_view kPartnerKinds[] = {"reseller", "distributor", "var",      "si",
                                                     "oem",      "outsourcer",  "supplier"};

struct Contact {
  std::string role;
  std::string email;
};

struct PartnerDef {
  std::string id;  // slug: lower-case letters, digits and '-'
  std::string name;
  std::string kind;
  std::string tier;
  std::vector<Contact> contacts;
  // Per source, the identifiers that attribute a record to this partner (e.g. zendesk: 509974).
  std::map<std::string, std::vector<std::string>> external_ids;
};

[[nodiscard]] std::expected<std::vector<PartnerDef>, core::Diagnostics> parse_partners(std::string_view text,
                                                                                       std::string_view name);
[[nodiscard]] std::expected<std::vector<PartnerDef>, core::Diagnostics> load_partners(
    const std::filesystem::path& file);

// True for a valid partner slug.
[[nodiscard]] bool is_slug(std::string_view s);

}  // namespace pactwatch::rules
