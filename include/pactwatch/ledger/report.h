// The compensation report finance pulls each period: one row per partner and contract version,
// with its lines summed into columns (base, bonus, credits, ...), and totals per currency. The CLI
// (`report compensation`) and the API (`GET /v1/compensation`) both render this one report.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "pactwatch/core/money.h"
#include "pactwatch/ledger/statements.h"

namespace pactwatch::ledger {

struct ReportRow {
  std::string partner, contract, currency, status;
  std::string partner_name;          // the partner's display name
  std::string contract_description;  // the contract's `description`
  int version = 0;
  std::vector<core::Money> amounts;  // one per column of report_columns()
  core::Money total;
};

struct Report {
  std::string period;
  core::Instant as_of{};
  std::vector<ReportRow> rows;
  std::vector<nlohmann::json> statements;  // each row's statement document
  // Per currency, never across currencies; previews are not money anyone owes and are left out.
  std::map<std::string, core::Money> totals;
};

// The column names, in order.
[[nodiscard]] std::vector<std::string> report_columns();

[[nodiscard]] Report make_report(const std::string& period, core::Instant as_of, const std::vector<StatementView>& views);

// JSON: period, as_of, statements (each row's columns and its full statement with derivations),
// totals. Money as decimal strings.
[[nodiscard]] nlohmann::json report_json(const Report& r);

// RFC 4180 CSV: a header, a row per statement, a TOTAL row per currency; CRLF line ends; text
// cells neutralised against formula injection (see compensation::csv_cell). The partner's name
// and the contract's description come last, so the columns before them keep their places.
[[nodiscard]] std::string report_csv(const Report& r);

}  // namespace pactwatch::ledger
