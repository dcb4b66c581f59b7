// Fuzz target: the contract expression language (conditions for every source kind, thresholds).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pactwatch/rules/expr.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pactwatch::rules;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (auto kind : {SourceKind::tickets, SourceKind::deals, SourceKind::surveys, SourceKind::events}) {
    (void)parse_condition(text, kind);
  }
  if (auto t = parse_threshold(text)) (void)literal_text(t->value);
  return 0;
}
