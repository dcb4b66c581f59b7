#include "pactwatch/sources/import.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "pactwatch/core/money.h"
#include "pactwatch/core/time.h"

namespace pactwatch::sources {

namespace {

using nlohmann::json;

const std::set<std::string> kInstantKeys{"created_at",   "updated_at",  "first_reply_at", "solved_at",  "escalated_at",
                                         "brand_ack_at", "on_site_at",  "registered_at",  "approved_at", "closed_at",
                                         "refunded_at",  "submitted_at", "at"};

// The fields each kind accepts besides id, source, partner, account (see docs/import.md).
const std::map<std::string, std::set<std::string>> kKindFields{
    {"tickets", {"priority", "status", "created_at", "updated_at", "first_reply_at", "solved_at", "status_history",
                 "customer_comments", "agent_replies", "tags", "reopens", "replies", "channel", "satisfaction",
                 "escalated_at", "brand_ack_at", "on_site_at", "fixed_first_visit", "first_contact_resolution", "custom"}},
    {"deals", {"amount", "currency", "stage", "won", "type", "created_at", "updated_at", "registered_at", "approved_at",
               "closed_at", "refunded_at", "tags", "custom"}},
    {"surveys", {"score", "type", "channel", "comment", "submitted_at", "updated_at", "ticket_id", "tags", "custom"}},
    {"events", {"name", "at", "updated_at", "value", "duration_seconds", "amount", "currency", "late", "tags", "custom"}},
};

struct Attribution {
  std::map<std::pair<std::string, std::string>, std::string> by_source_id;  // (source, id) -> partner
  std::map<std::string, std::string> by_tag;
  std::set<std::string> partner_ids;

  explicit Attribution(const std::vector<rules::PartnerDef>& partners) {
    for (const auto& p : partners) {
      partner_ids.insert(p.id);
      for (const auto& [source, ids] : p.external_ids) {
        for (const auto& id : ids) {
          if (source == "tag") by_tag[id] = p.id;
          else by_source_id[{source, id}] = p.id;
        }
      }
    }
  }
};

constexpr auto kReplace = json::error_handler_t::replace;

std::string scalar_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  return v.dump(-1, ' ', false, kReplace);
}

// CSV bytes are not checked for UTF-8 by any parser: invalid sequences become U+FFFD here, so
// everything stored is valid UTF-8.
std::string valid_utf8(const std::string& s) {
  return json::parse(json(s).dump(-1, ' ', false, kReplace)).get<std::string>();
}

std::expected<std::optional<core::Instant>, std::string> instant(const json& rec, const char* key) {
  if (!rec.contains(key) || rec[key].is_null()) return std::optional<core::Instant>{};
  if (!rec[key].is_string()) return std::unexpected(std::string(key) + ": expected an RFC 3339 string");
  auto t = core::parse_rfc3339(rec[key].get<std::string>());
  if (!t) return std::unexpected(std::string(key) + ": " + t.error());
  return std::optional<core::Instant>(*t);
}

// Every field is one the kind accepts, of the type it takes; id, source, partner and account are
// scalars (an account may be a list of them).
std::expected<void, std::string> check_fields(const json& rec, const ImportOptions& opt) {
  const auto& allowed = kKindFields.at(opt.kind);
  for (const auto& [key, value] : rec.items()) {
    if (key == "id" || key == "source" || key == "partner" || key == "account") continue;
    if (!allowed.contains(key)) {
      std::vector<std::string_view> names(allowed.begin(), allowed.end());
      std::string msg = "unknown field '" + key + "' for " + opt.kind;
      if (auto hint = core::did_you_mean(key, names); !hint.empty()) msg += " (" + hint + ")";
      return std::unexpected(msg);
    }
    if (kInstantKeys.contains(key) && !value.is_null()) {
      if (auto t = instant(rec, key.c_str()); !t) return std::unexpected(t.error());
    }
    static const std::set<std::string> kStrings{"priority", "status", "stage", "currency", "type", "channel",
                                                "satisfaction", "name", "comment"};
    static const std::set<std::string> kBooleans{"won", "late", "fixed_first_visit", "first_contact_resolution"};
    static const std::set<std::string> kIntegers{"reopens", "replies", "duration_seconds"};
    if (value.is_null()) continue;
    if (kStrings.contains(key) && !value.is_string()) return std::unexpected(key + ": expected a string");
    if (kBooleans.contains(key) && !value.is_boolean()) return std::unexpected(key + ": expected true or false");
    if (kIntegers.contains(key) && !value.is_number_integer()) return std::unexpected(key + ": expected a whole number");
    if (key == "custom" && !value.is_object()) return std::unexpected("custom: expected an object of custom fields");
    if (key == "tags" && !(value.is_array() && std::all_of(value.begin(), value.end(), [](const json& t) { return t.is_string(); }))) {
      return std::unexpected("tags: expected a list of strings");
    }
  }
  auto scalar = [](const json& v) { return v.is_string() || v.is_number_integer(); };
  for (const char* key : {"id", "source", "partner", "account"}) {
    if (!rec.contains(key) || scalar(rec[key])) continue;
    // An account may be a list (a record that belongs to several accounts: Jira's Organizations).
    if (std::string_view(key) == "account" && rec[key].is_array() && !rec[key].empty() &&
        std::all_of(rec[key].begin(), rec[key].end(), scalar)) {
      continue;
    }
    return std::unexpected(std::string(key) + (std::string_view(key) == "account" ? ": expected a string, an integer or a list of them"
                                                                                   : ": expected a string or an integer"));
  }
  return {};
}

// The partner the record names, else the first of its accounts a partner claims, else the
// first of its tags a partner claims; none leaves the item unattributed.
std::expected<void, std::string> attribute(const json& rec, store::Item& item, const Attribution& attribution) {
  if (rec.contains("partner")) {
    const std::string p = scalar_text(rec["partner"]);
    if (!attribution.partner_ids.contains(p)) return std::unexpected("partner '" + p + "' is not in partners.yaml");
    item.partner_id = p;
  } else if (rec.contains("account")) {
    // A list of accounts attributes by the first one, in the record's order, that a partner claims.
    const json accounts = rec["account"].is_array() ? rec["account"] : json::array({rec["account"]});
    for (const auto& a : accounts) {
      if (auto it = attribution.by_source_id.find({item.source, scalar_text(a)}); it != attribution.by_source_id.end()) {
        item.partner_id = it->second;
        break;
      }
    }
  }
  if (!item.partner_id && rec.contains("tags") && rec["tags"].is_array()) {
    for (const auto& t : rec["tags"]) {
      if (!t.is_string()) continue;
      if (auto it = attribution.by_tag.find(t.get<std::string>()); it != attribution.by_tag.end()) {
        item.partner_id = it->second;
        break;
      }
    }
  }
  return {};
}

std::expected<void, std::string> ticket_columns(const json& rec, store::Item& item) {
  auto get_instant = [&](const char* key) { return *instant(rec, key); };
  item.created_at = get_instant("created_at");
  if (!item.created_at) return std::unexpected("missing 'created_at'");
  item.first_reply_at = get_instant("first_reply_at");
  item.solved_at = get_instant("solved_at");
  item.priority = rec.value("priority", "");
  item.status = rec.value("status", "");
  if (rec.contains("status_history")) {
    const auto& h = rec["status_history"];
    if (!h.is_array()) return std::unexpected("status_history: expected a list of {at, status}");
    for (const auto& e : h) {
      if (!e.is_object() || !e.contains("at") || !e.contains("status") || !e["status"].is_string()) {
        return std::unexpected("status_history: each entry is {\"at\": instant, \"status\": name}");
      }
      auto t = instant(e, "at");
      if (!t || !*t) return std::unexpected("status_history: bad 'at' instant");
      // The solved_at column is the latest solve the record shows, so that it is never before a
      // solve the engine counts by (the store narrows a period's tickets with it).
      std::string st = e["status"].get<std::string>();
      std::transform(st.begin(), st.end(), st.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if ((st == "solved" || st == "closed") && (!item.solved_at || **t > *item.solved_at)) item.solved_at = **t;
    }
  }
  for (const char* list : {"customer_comments", "agent_replies"}) {
    if (!rec.contains(list)) continue;
    if (!rec[list].is_array()) return std::unexpected(std::string(list) + ": expected a list of instants");
    for (const auto& t : rec[list]) {
      if (!t.is_string() || !core::parse_rfc3339(t.get<std::string>())) {
        return std::unexpected(std::string(list) + ": every entry must be an RFC 3339 instant");
      }
    }
  }
  return {};
}

std::expected<void, std::string> deal_columns(const json& rec, store::Item& item) {
  auto get_instant = [&](const char* key) { return *instant(rec, key); };
  item.created_at = get_instant("created_at");
  item.status = rec.value("stage", "");
  if (rec.contains("amount")) {
    const std::string code = rec.value("currency", "");
    auto cur = core::Currency::from_code(code);
    if (!cur) return std::unexpected("currency: " + cur.error());
    auto m = core::Money::parse(scalar_text(rec["amount"]), *cur);
    if (!m || rec["amount"].is_number_float()) {
      return std::unexpected("amount: give the amount as a decimal string such as \"1234.50\"" +
                             (m ? std::string() : " (" + m.error() + ")"));
    }
    item.amount_minor = m->minor_units();
    item.currency = code;
  }
  return {};
}

std::expected<void, std::string> survey_columns(const json& rec, store::Item& item) {
  auto get_instant = [&](const char* key) { return *instant(rec, key); };
  item.created_at = get_instant("submitted_at");
  if (!item.created_at) return std::unexpected("missing 'submitted_at'");
  if (!rec.contains("score")) return std::unexpected("missing 'score'");
  return {};
}

std::expected<void, std::string> event_columns(const json& rec, store::Item& item) {
  auto get_instant = [&](const char* key) { return *instant(rec, key); };
  item.created_at = get_instant("at");
  if (!item.created_at) return std::unexpected("missing 'at'");
  if (!rec.contains("name") || !rec["name"].is_string()) return std::unexpected("missing 'name'");
  if (rec.contains("value") && !rec["value"].is_number_integer() &&
      !(rec["value"].is_string() && core::Ratio::parse(rec["value"].get<std::string>()))) {
    return std::unexpected("value: expected an integer or a decimal string such as \"12.5\"");
  }
  if (rec.contains("duration_seconds") && !rec["duration_seconds"].is_number_integer()) {
    return std::unexpected("duration_seconds: expected a whole number of seconds");
  }
  if (rec.contains("amount")) {
    auto cur = core::Currency::from_code(rec.value("currency", ""));
    if (!cur || !core::Money::parse(scalar_text(rec["amount"]), *cur)) return std::unexpected("amount: bad amount or currency");
    item.amount_minor = core::Money::parse(scalar_text(rec["amount"]), *cur)->minor_units();
    item.currency = rec.value("currency", "");
  }
  return {};
}

// The newest instant the record carries stands for its version unless updated_at says otherwise.
void set_version(const json& rec, store::Item& item) {
  auto get_instant = [&](const char* key) { return *instant(rec, key); };
  if (auto u = get_instant("updated_at")) {
    item.updated_at = *u;
  } else {
    core::Instant latest = item.created_at.value_or(core::Instant{});
    for (const auto& key : kInstantKeys) {
      if (auto t = instant(rec, key.c_str()); t && *t) latest = std::max(latest, **t);
    }
    item.updated_at = latest;
  }
}

// Validates a record and turns it into an item; the message says what is wrong.
std::expected<store::Item, std::string> to_item(json rec, const ImportOptions& opt, const Attribution& attribution) {
  if (!rec.is_object()) return std::unexpected("expected a JSON object");
  if (auto ok = check_fields(rec, opt); !ok) return std::unexpected(ok.error());
  store::Item item;
  item.kind = opt.kind;
  if (!rec.contains("id") || !(rec["id"].is_string() || rec["id"].is_number_integer()) || scalar_text(rec["id"]).empty()) {
    return std::unexpected("missing 'id' (a string or an integer)");
  }
  item.external_id = scalar_text(rec["id"]);
  item.source = rec.contains("source") && rec["source"].is_string() ? rec["source"].get<std::string>() : opt.source;
  if (auto ok = attribute(rec, item, attribution); !ok) return std::unexpected(ok.error());
  const auto columns = opt.kind == "tickets" ? ticket_columns(rec, item)
                       : opt.kind == "deals" ? deal_columns(rec, item)
                       : opt.kind == "surveys" ? survey_columns(rec, item)
                                               : event_columns(rec, item);
  if (!columns) return std::unexpected(columns.error());
  set_version(rec, item);
  for (const char* k : {"id", "source", "partner", "account", "priority", "status", "created_at", "first_reply_at",
                        "solved_at", "updated_at", "amount", "currency", "submitted_at", "at"}) {
    rec.erase(k);
  }
  item.payload = rec.dump(-1, ' ', false, kReplace);  // keys sorted: the same record always gives the same payload
  return item;
}

// CSV cells to a JSON record (lists split on ';', booleans, custom.NAME columns).
json csv_record(const std::vector<std::string>& header, const std::vector<std::string>& cells) {
  static const std::set<std::string> kLists{"tags", "customer_comments", "agent_replies"};
  static const std::set<std::string> kBools{"won", "late", "fixed_first_visit", "first_contact_resolution"};
  static const std::set<std::string> kInts{"reopens", "replies", "duration_seconds"};
  json rec = json::object();
  for (std::size_t i = 0; i < header.size() && i < cells.size(); ++i) {
    const std::string key = valid_utf8(header[i]);
    const std::string cell = valid_utf8(cells[i]);
    if (cell.empty()) continue;
    auto split = [](const std::string& s) {
      std::vector<std::string> out;
      std::size_t start = 0;
      while (start <= s.size()) {
        const auto semi = s.find(';', start);
        std::string part = s.substr(start, semi == std::string::npos ? std::string::npos : semi - start);
        if (!part.empty()) out.push_back(part);
        if (semi == std::string::npos) break;
        start = semi + 1;
      }
      return out;
    };
    if (key.rfind("custom.", 0) == 0) {
      rec["custom"][key.substr(7)] = cell;
    } else if (kLists.contains(key)) {
      rec[key] = split(cell);
    } else if (key == "status_history") {
      json h = json::array();
      for (const auto& entry : split(cell)) {
        const auto space = entry.find(' ');
        h.push_back({{"at", entry.substr(0, space)}, {"status", space == std::string::npos ? "" : entry.substr(space + 1)}});
      }
      rec[key] = h;
    } else if (kBools.contains(key)) {
      rec[key] = cell == "true" ? json(true) : cell == "false" ? json(false) : json(cell);
    } else if (kInts.contains(key)) {
      try {
        std::size_t used = 0;
        const long long v = std::stoll(cell, &used);
        rec[key] = used == cell.size() ? json(v) : json(cell);
      } catch (const std::exception&) {
        rec[key] = cell;
      }
    } else {
      rec[key] = cell;
    }
  }
  return rec;
}

}  // namespace

std::expected<std::vector<CsvRecord>, core::Diagnostic> parse_csv(std::string_view text, const std::string& file) {
  std::vector<CsvRecord> out;
  CsvRecord rec;
  std::string field;
  int line = 1;
  rec.line = 1;
  bool quoted = false;
  bool field_started = false;
  int quote_line = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"' && !field_started) {
      quoted = true;
      field_started = true;
      quote_line = line;
    } else if (c == '"') {
      return std::unexpected(core::Diagnostic{file, line, 0, "a quote inside an unquoted field (quote the whole field)"});
    } else if (c == ',') {
      rec.fields.push_back(std::move(field));
      field.clear();
      field_started = false;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      rec.fields.push_back(std::move(field));
      field.clear();
      field_started = false;
      if (!(rec.fields.size() == 1 && rec.fields[0].empty())) out.push_back(std::move(rec));
      rec = CsvRecord{};
      ++line;
      rec.line = line;
    } else {
      field += c;
      field_started = true;
    }
  }
  if (quoted) return std::unexpected(core::Diagnostic{file, quote_line, 0, "unterminated quoted field"});
  if (field_started || !rec.fields.empty()) {
    rec.fields.push_back(std::move(field));
    out.push_back(std::move(rec));
  }
  return out;
}

ParsedImport parse_import(std::string_view text, const std::string& file, const ImportOptions& options,
                          const std::vector<rules::PartnerDef>& partners) {
  ParsedImport out;
  if (!kKindFields.contains(options.kind)) {
    out.bad_lines.push_back({file, 0, 0, "unknown kind '" + options.kind + "' (expected tickets, deals, surveys or events)"});
    return out;
  }
  const Attribution attribution(partners);
  std::map<std::pair<std::string, std::string>, int> seen;
  auto accept = [&](int line, json rec) {
    auto item = to_item(std::move(rec), options, attribution);
    if (!item) {
      out.bad_lines.push_back({file, line, 0, item.error()});
      return;
    }
    const auto key = std::pair(item->source, item->external_id);
    if (auto it = seen.find(key); it != seen.end()) {
      out.bad_lines.push_back({file, line, 0, "id '" + item->external_id + "' also appears on line " + std::to_string(it->second)});
      return;
    }
    seen[key] = line;
    if (!item->partner_id) ++out.unattributed;
    out.items.push_back(std::move(*item));
  };
  if (options.format == ImportFormat::ndjson) {
    int line = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
      if (++line % 1024 == 0 && options.abort && options.abort->load()) {
        out.stopped = true;
        return out;
      }
      auto nl = text.find('\n', pos);
      std::string_view raw = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      pos = nl == std::string_view::npos ? text.size() : nl + 1;
      if (raw.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      auto rec = json::parse(raw, nullptr, false);
      if (rec.is_discarded()) {
        out.bad_lines.push_back({file, line, 0, "not valid JSON"});
        continue;
      }
      accept(line, std::move(rec));
    }
  } else {
    auto records = parse_csv(text, file);
    if (!records) {
      out.bad_lines.push_back(records.error());
      return out;
    }
    if (records->empty()) return out;
    const auto header = records->front().fields;
    for (std::size_t r = 1; r < records->size(); ++r) {
      if (r % 1024 == 0 && options.abort && options.abort->load()) {
        out.stopped = true;
        return out;
      }
      const auto& rec = (*records)[r];
      if (rec.fields.size() != header.size()) {
        out.bad_lines.push_back({file, rec.line, 0, "has " + std::to_string(rec.fields.size()) + " fields, the header " +
                                                        std::to_string(header.size())});
        continue;
      }
      accept(rec.line, csv_record(header, rec.fields));
    }
  }
  return out;
}

ParsedImport normalize_records(const std::vector<json>& records, const std::string& where, const ImportOptions& options,
                               const std::vector<rules::PartnerDef>& partners) {
  ParsedImport out;
  const Attribution attribution(partners);
  int n = 0;
  for (const auto& rec : records) {
    ++n;
    auto item = to_item(rec, options, attribution);
    if (!item) {
      out.bad_lines.push_back({where, n, 0, item.error()});
      continue;
    }
    if (!item->partner_id) ++out.unattributed;
    out.items.push_back(std::move(*item));
  }
  return out;
}

}  // namespace pactwatch::sources
