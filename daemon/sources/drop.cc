#include "pactwatch/sources/drop.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "pactwatch/core/diagnostic.h"
#include "pactwatch/sources/import.h"

namespace pactwatch::sources {

namespace fs = std::filesystem;

SyncResult sync_drop_directory(const config::SourceConfig& src, store::Store& store,
                               const std::vector<rules::PartnerDef>& partners, const core::Clock& clock, bool collect,
                               const std::atomic<bool>* abort, SourceMetrics* metrics) {
  SyncResult r;
  const fs::path dir = src.path;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    r.ok = false;
    r.error = src.path + " is not a directory";
    if (metrics) metrics->error(src.name, "config");
    return r;
  }
  fs::create_directories(dir / "done", ec);
  fs::create_directories(dir / "failed", ec);
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const auto name = e.path().filename().string();
    if (!e.is_regular_file() || name.starts_with(".")) continue;
    const auto ext = e.path().extension().string();
    if (ext == ".ndjson" || ext == ".jsonl" || ext == ".json" || ext == ".csv") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());  // in name order: name drops by time to keep their order
  const auto stopping = [abort] { return abort && abort->load(); };
  for (const auto& file : files) {
    if (stopping()) {  // the next file waits in the inbox for the next start
      r.stopped = true;
      break;
    }
    auto text = core::read_file(file);
    if (!text) continue;  // vanished meanwhile
    spdlog::debug("source {}: reading {} ({} bytes)", src.name, file.filename().string(), text->size());
    ImportOptions o;
    o.kind = src.items;
    o.source = src.name;
    o.format = file.extension() == ".csv" ? ImportFormat::csv : ImportFormat::ndjson;
    o.abort = abort;
    auto parsed = parse_import(*text, file.filename().string(), o, partners);
    if (parsed.stopped) {  // the daemon stops: the file stays in the inbox for the next start
      r.stopped = true;
      break;
    }
    const auto name = file.filename();
    if (!parsed.bad_lines.empty()) {
      // Whole or not at all: the file goes to failed/ with the reasons; nothing of it is stored.
      std::ofstream reason(dir / "failed" / (name.string() + ".reason"));
      for (const auto& d : parsed.bad_lines) reason << d.to_string() << '\n';
      reason.close();
      fs::rename(file, dir / "failed" / name, ec);
      r.ok = false;
      r.error = name.string() + ": " + std::to_string(parsed.bad_lines.size()) + " bad line(s), moved to failed/ (first: " +
                parsed.bad_lines.front().to_string() + ")";
      if (metrics) metrics->error(src.name, "malformed");
      continue;
    }
    // What the file changes, and the evaluation intents its transaction records. Parsed but not
    // stored when the daemon stops meanwhile: the file stays in the inbox, whole.
    const auto changes = page_changes(store, parsed.items, abort);
    if (changes.stopped || stopping()) {
      r.stopped = true;
      break;
    }
    store::UpsertCounts counts;
    try {
      auto write = changes.write();
      write.abort = abort;  // checked between rows: a stop abandons the file's transaction
      spdlog::debug("source {}: storing {} record(s) of {}", src.name, parsed.items.size(), name.string());
      counts = store.sources().store_page(src.name, parsed.items, name.string(), clock.now(), write);  // committed before the move
    } catch (const store::WriteAbandoned&) {
      r.stopped = true;
      break;
    }
    if (collect) {
      r.changed.insert(r.changed.end(), changes.changed.begin(), changes.changed.end());
      r.previous.insert(r.previous.end(), changes.previous.begin(), changes.previous.end());
    }
    fs::rename(file, dir / "done" / name, ec);
    ++r.pages;
    r.records += static_cast<std::int64_t>(parsed.items.size());
    r.written += counts.written;
    r.unchanged += counts.unchanged;
    r.unattributed += parsed.unattributed;
    r.unattributed_new += changes.unattributed;
    r.cursor = name.string();
  }
  if (metrics) metrics->record(src.name, r, clock.now());
  return r;
}

}  // namespace pactwatch::sources
