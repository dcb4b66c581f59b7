// Positioned problems found in a user's file, reported all at once as "file:line:col: message".
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pactwatch::core {

struct Diagnostic {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based; 0 when unknown
  std::string message;

  [[nodiscard]] std::string to_string() const;
};

using Diagnostics = std::vector<Diagnostic>;

// "did you mean 'threshold'?" when a candidate is within a small edit distance, else "".
[[nodiscard]] std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates);

[[nodiscard]] std::size_t edit_distance(std::string_view a, std::string_view b);

// Orders diagnostics of one file by line and column (stable for equal positions).
void sort_by_position(Diagnostics& ds);

// The whole content of a file, or nothing when it cannot be read.
[[nodiscard]] std::optional<std::string> read_file(const std::filesystem::path& path);

}  // namespace pactwatch::core
