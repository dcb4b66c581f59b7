// The sync loop every connector shares: authenticate, request a page, classify the answer (rate
// limit, server error, timeout, malformed page), wait and retry politely, and store each page
// with its cursor in one transaction — so a crash re-fetches at most one page, and a bad page
// never moves the cursor.
#pragma once

#include <atomic>
#include <chrono>
#include <expected>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pactwatch/config/config.h"
#include "pactwatch/core/clock.h"
#include "pactwatch/core/metrics.h"
#include "pactwatch/rules/partners.h"
#include "pactwatch/sources/connector.h"
#include "pactwatch/store/store.h"

namespace pactwatch::sources {

class SourceMetrics;

struct SyncOptions {
  bool once = false;                        // one page only
  // A backfill: re-read from here and store what is read, leaving the stored cursor where it is
  // (a backfill never moves a cursor past data it did not store; `sources cursor set` moves it
  // deliberately).
  std::optional<core::Instant> since;
  int max_pages = 100000;                   // a safety stop for one sync
  std::function<void(std::chrono::milliseconds)> sleep;  // how to wait (tests record instead)
  std::function<std::expected<std::string, std::string>(const config::SecretRef&, std::string_view)> read_secret;  // default: config::read_secret
  std::uint64_t jitter_seed = 0;            // 0: random
  bool collect_changes = false;             // report the items written and the versions they replaced
  std::function<bool()> stopping;           // checked before each request: stop between pages
  const std::atomic<bool>* abort = nullptr; // abandons a request in flight when it turns true
  const store::LeaseGuard* lease = nullptr; // pages are stored only while this lease is held
  SourceMetrics* metrics = nullptr;         // where the sync is counted (the daemon's /metrics)
};

struct SyncResult {
  bool ok = true;
  std::string error;           // when not ok: what failed, with the (redacted) URL
  std::int64_t pages = 0;
  std::int64_t requests = 0;
  std::int64_t records = 0;    // records read (items and quarantined)
  std::int64_t written = 0;    // items inserted or changed
  std::int64_t unchanged = 0;  // records read again exactly as stored (the boundary record, overlaps)
  std::int64_t quarantined = 0;  // records set aside (newly, or for another reason) because they could not be mapped
  std::vector<std::string> quarantined_ids;  // the first 20 of them
  std::int64_t released = 0;   // records set aside before that mapped this time
  std::int64_t restarts = 0;   // the vendor dropped the paging position: restarted from the stored one
  std::int64_t unattributed = 0;      // records read that no partner claims
  std::int64_t unattributed_new = 0;  // ... of them new or changed
  std::vector<std::string> unattributed_ids;  // the first 20
  std::int64_t history_skipped = 0;  // status history for items not stored (yet)
  std::int64_t retries = 0;
  std::int64_t rate_limited = 0;
  std::chrono::milliseconds waited{0};
  std::string cursor;          // where the source stands afterwards
  bool stopped = false;        // stopped on request, between pages (not an error)
  bool lease_lost = false;     // stopped because another instance took the source's lease over
  std::vector<store::Item> changed;   // with collect_changes: the items written
  std::vector<store::Item> previous;  // ... and the stored versions they replaced
};

// What a page changes: the items it will write, the stored versions they replace (records
// unchanged or older than what is stored are left out), and the evaluation intents of both,
// which the page's transaction records so that the evaluation it calls for is as durable as the
// page (store::EvaluationIntent).
struct PageChanges {
  std::vector<store::Item> changed;
  std::vector<store::Item> previous;
  std::vector<store::EvaluationIntent> intents;
  std::int64_t unattributed = 0;  // changed items no partner claims
  bool stopped = false;
  // How to store the page: with these intents, under `lease` when given.
  [[nodiscard]] store::PageWrite write(const store::LeaseGuard* lease = nullptr) const {
    store::PageWrite w;
    w.guard = lease;
    w.intents = intents;
    return w;
  }
};
// The stored versions are read in batches (stored_versions), 2,000 items at a time. With
// `abort`, gives up early (`stopped`) once it turns true: a large file is not read through after
// a stop.
[[nodiscard]] PageChanges page_changes(store::Store& store, const std::vector<store::Item>& items,
                                       const std::atomic<bool>* abort = nullptr);
// The stored version of each item (nothing where none is stored), in the order of `items`: one
// batched lookup per source and kind (store::Items::find_many, a statement per 500 items)
// instead of one per item.
[[nodiscard]] std::vector<std::optional<store::Item>> stored_versions(store::Store& store, std::span<const store::Item> items);

// Counters per source, registered on the registry the daemon passes in (its /metrics). Syncs
// count into the one SyncOptions::metrics names; without one, nothing is counted.
class SourceMetrics {
 public:
  explicit SourceMetrics(core::MetricsRegistry& registry);
  void record(const std::string& source, const SyncResult& r, core::Instant now);
  void error(const std::string& source, const std::string& kind);

 private:
  using Family = core::Family<std::int64_t>;
  // A source once seen shows every per-source series (0 where nothing was counted yet).
  void touch(const core::LabelValues& source);
  Family &requests_, &records_, &rereads_, &written_, &unattributed_, &quarantined_, &restarts_, &retries_, &syncs_,
      &failed_syncs_, &last_success_, &errors_;
};

// Syncs one source until it reports no more pages (or once). Never throws for remote trouble:
// the result says what happened; the cursor stands after the last page stored.
[[nodiscard]] SyncResult sync_source(const config::SourceConfig& source, Connector& connector, store::Store& store,
                                     const std::vector<rules::PartnerDef>& partners, const core::Clock& clock,
                                     const SyncOptions& options = {});

}  // namespace pactwatch::sources
