// Fuzz target: partners.yaml.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pactwatch/rules/partners.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)pactwatch::rules::parse_partners(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.yaml");
  return 0;
}
