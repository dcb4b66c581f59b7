// Fuzz target: an evaluation document as the ledger, the API and the runner read one back from the
// store (engine::parse_evaluation), exclusions included. Never throws; a document it accepts
// renders, and that rendering reads back to the same rendering (nothing is lost or invented).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "pactwatch/engine/evaluation_json.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pactwatch;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto e = engine::parse_evaluation(text);
  if (!e) return 0;
  const std::string once = engine::render_evaluation(*e);
  const auto again = engine::parse_evaluation(once);
  if (!again) std::abort();
  if (engine::render_evaluation(*again) != once) std::abort();
  return 0;
}
