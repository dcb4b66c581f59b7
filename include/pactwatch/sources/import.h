// `pactwatch import KIND FILE`: items from NDJSON or CSV exports, validated line by line,
// attributed to partners, stored as idempotent upserts. Columns are in docs/import.md.
#pragma once

#include <atomic>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "pactwatch/core/diagnostic.h"
#include "pactwatch/rules/partners.h"
#include "pactwatch/store/store.h"

namespace pactwatch::sources {

enum class ImportFormat { ndjson, csv };

struct ImportOptions {
  std::string kind;            // tickets, deals, surveys, events
  std::string source = "import";  // default source of records that name none
  ImportFormat format = ImportFormat::ndjson;
  bool skip_bad = false;
  // Checked every 1,024 lines: once it turns true the parse gives up (ParsedImport::stopped), so
  // a stop never waits for a large file to be read through.
  const std::atomic<bool>* abort = nullptr;
};

struct ParsedImport {
  std::vector<store::Item> items;
  core::Diagnostics bad_lines;        // file:line: message, for every rejected line
  std::int64_t unattributed = 0;
  bool stopped = false;               // given up on `abort`: the items are not the whole file
};

// Parses a whole file. Items are attributed through the partners' external ids: an explicit
// `partner`, else `account` matched against external_ids[source], else a tag matched against
// external_ids["tag"]. Unattributed items are kept (partner empty) and counted.
[[nodiscard]] ParsedImport parse_import(std::string_view text, const std::string& file, const ImportOptions& options,
                                        const std::vector<rules::PartnerDef>& partners);

// Normalizes records already in the import shape (what the connectors map vendor records to):
// the same validation and attribution as `pactwatch import`. Each bad record is reported with
// `where` and its position in the list; nothing is dropped silently.
[[nodiscard]] ParsedImport normalize_records(const std::vector<nlohmann::json>& records, const std::string& where,
                                             const ImportOptions& options, const std::vector<rules::PartnerDef>& partners);

// Splits RFC 4180 CSV into records (quoted fields, doubled quotes, embedded newlines, CRLF);
// each record remembers the line it starts on.
struct CsvRecord {
  int line = 0;
  std::vector<std::string> fields;
};
[[nodiscard]] std::expected<std::vector<CsvRecord>, core::Diagnostic> parse_csv(std::string_view text,
                                                                               const std::string& file);

}  // namespace pactwatch::sources
