// Fuzz target: the contract loader and the canonical hash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "pactwatch/rules/contract.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto c = pactwatch::rules::parse_contract(text, "fuzz.yaml");
  auto h = pactwatch::rules::contract_hash(text, "fuzz.yaml");
  // A contract that parses always has a hash, and it is the one recorded.
  if (c && (!h || c->sha256 != *h)) std::abort();
  return 0;
}
