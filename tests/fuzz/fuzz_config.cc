// Fuzz target: the daemon's config file parser, and the strict YAML check every file pactwatch
// reads goes through first (a refusal must point inside the text).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "pactwatch/config/config.h"
#include "pactwatch/config/yaml_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (const auto problem = pactwatch::config::yaml_syntax_error(text, "fuzz.yaml")) {
    // Every line break YAML counts: \n, \r, NEL (C2 85), LS and PS (E2 80 A8/A9); CR LF twice is a bound.
    auto count = [&](std::string_view needle) {
      int n = 0;
      for (auto at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + 1)) ++n;
      return n;
    };
    const int lines = count("\n") + count("\r") + count("\xc2\x85") + count("\xe2\x80\xa8") + count("\xe2\x80\xa9");
    if (problem->line < 1 || problem->line > lines + 1 || problem->column < 1 ||
        static_cast<std::size_t>(problem->column) > size + 1 || problem->message.empty()) {
      std::abort();
    }
  }
  (void)pactwatch::config::parse_config(text, "fuzz.yaml");
  return 0;
}
