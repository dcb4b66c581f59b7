// Parsing of a contract's `compensation` block (called by the contract parser once the KPIs,
// standards and obligations it refers to are known).
#pragma once

#include "pactwatch/rules/contract.h"
#include "parse_helpers.h"

namespace pactwatch::rules::detail {

void parse_compensation(const YAML::Node& node, ContractVersion& c, FileContext& ctx);

}  // namespace pactwatch::rules::detail
