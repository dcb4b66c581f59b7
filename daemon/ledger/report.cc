#include "pactwatch/ledger/report.h"

#include <algorithm>
#include <sstream>

namespace pactwatch::ledger {

namespace {

using nlohmann::json;

// The report's columns: line kinds summed per statement.
struct Column {
  const char* name;
  std::vector<std::string_view> kinds;
};
const std::vector<Column>& columns() {
  static const std::vector<Column> cols{
      {"base", {"base", "commission"}},
      {"bonus", {"bonus"}},
      {"gates", {"gate"}},
      {"credits", {"credit", "credit_band"}},
      {"earn_backs", {"earn_back"}},
      {"reciprocity", {"reciprocity"}},
      {"clawbacks", {"clawback"}},
      {"adjustments", {"adjustment"}},
      {"cap_floor", {"cap", "floor"}},
      {"carry_forward", {"carry_forward_in", "carry_forward"}},
  };
  return cols;
}

ReportRow row_of(const StatementView& v) {
  const auto currency = *core::Currency::from_code(v.document.at("currency").get<std::string>());
  ReportRow r{v.contract->partner, v.contract->contract, std::string(currency.code()), v.status,
              v.partner_name.empty() ? v.contract->partner : v.partner_name, v.contract->description, v.contract->version, {},
              *core::Money::parse(v.document.at("total").get<std::string>(), currency)};
  for (const auto& col : columns()) {
    core::Money sum = core::Money::zero(currency);
    for (const auto& l : v.document.at("lines")) {
      const auto kind = l.at("kind").get<std::string>();
      if (std::find(col.kinds.begin(), col.kinds.end(), kind) != col.kinds.end()) {
        sum += *core::Money::parse(l.at("amount").get<std::string>(), currency);
      }
    }
    r.amounts.push_back(sum);
  }
  return r;
}

}  // namespace

std::vector<std::string> report_columns() {
  std::vector<std::string> out;
  for (const auto& c : columns()) out.emplace_back(c.name);
  return out;
}

Report make_report(const std::string& period, core::Instant as_of, const std::vector<StatementView>& views) {
  Report r{period, as_of, {}, {}, {}};
  for (const auto& v : views) {
    r.rows.push_back(row_of(v));
    r.statements.push_back(v.document);
    const auto& row = r.rows.back();
    if (row.status == "preview") continue;
    auto it = r.totals.find(row.currency);
    if (it == r.totals.end()) r.totals.emplace(row.currency, row.total);
    else it->second += row.total;
  }
  return r;
}

json report_json(const Report& r) {
  json out{{"period", r.period}, {"as_of", core::format_rfc3339(r.as_of)}, {"statements", json::array()}, {"totals", json::object()}};
  for (std::size_t i = 0; i < r.rows.size(); ++i) {
    const auto& row = r.rows[i];
    json j{{"partner", row.partner}, {"partner_name", row.partner_name}, {"contract", row.contract},
           {"contract_description", row.contract_description}, {"version", row.version},
           {"currency", row.currency}, {"status", row.status}, {"total", row.total.to_decimal()}};
    for (std::size_t c = 0; c < columns().size(); ++c) j[columns()[c].name] = row.amounts[c].to_decimal();
    j["statement"] = r.statements[i];
    out["statements"].push_back(std::move(j));
  }
  for (const auto& [cur, m] : r.totals) out["totals"][cur] = m.to_decimal();
  return out;
}

std::string report_csv(const Report& r) {
  std::ostringstream o;
  o << "partner,contract,version,currency";
  for (const auto& c : columns()) o << ',' << c.name;
  o << ",total,status,partner_name,contract_description\r\n";
  for (const auto& row : r.rows) {
    o << compensation::csv_cell(row.partner) << ',' << compensation::csv_cell(row.contract) << ',' << row.version << ','
      << row.currency;
    for (const auto& m : row.amounts) o << ',' << m.to_decimal();
    o << ',' << row.total.to_decimal() << ',' << row.status << ',' << compensation::csv_cell(row.partner_name) << ','
      << compensation::csv_cell(row.contract_description) << "\r\n";
  }
  for (const auto& [cur, m] : r.totals) {
    o << "TOTAL,,," << cur;
    for (std::size_t c = 0; c < columns().size(); ++c) o << ',';
    o << ',' << m.to_decimal() << ",,,\r\n";
  }
  return o.str();
}

}  // namespace pactwatch::ledger
