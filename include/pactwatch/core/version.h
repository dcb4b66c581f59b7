#pragma once

#include <string_view>

namespace pactwatch::core {

[[nodiscard]] std::string_view version();
// Short git revision the binary was built from, "-dirty" when the tree had changes, or "unknown".
[[nodiscard]] std::string_view git_revision();

}  // namespace pactwatch::core
