// `pactwatch gen`: a realistic, seeded data set for tests, demos and benchmarks — partners of
// skewed sizes, tickets with status histories and replies, surveys — plus a rules directory with
// one five-KPI contract per partner.
#pragma once

#include <cstdint>
#include <filesystem>
#include <expected>
#include <string>

namespace pactwatch::sources {

struct GenerateOptions {
  int partners = 10;
  std::int64_t tickets = 1000;
  std::uint64_t seed = 1;
  int year = 2026;  // tickets spread over this year's first ten months
};

struct GenerateSummary {
  std::int64_t tickets = 0;
  std::int64_t surveys = 0;
};

// Writes DIR/rules/{partners.yaml, calendars/desk.yaml, contracts/*.yaml}, DIR/tickets.ndjson and
// DIR/surveys.ndjson. The same options always write the same bytes.
[[nodiscard]] std::expected<GenerateSummary, std::string> generate(const std::filesystem::path& dir,
                                                                   const GenerateOptions& options);

}  // namespace pactwatch::sources
