// What sources write: pages of items with their quarantine and cursor, in one transaction each,
// and the cursors themselves.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pactwatch/core/time.h"
#include "pactwatch/store/audit.h"
#include "pactwatch/store/database.h"
#include "pactwatch/store/items.h"
#include "pactwatch/store/leases.h"
#include "pactwatch/store/work_queue.h"

namespace pactwatch::store {

// What a page's transaction does besides storing the items, the quarantine and the cursor
// (Sources::store_page).
struct PageWrite {
  // Stored only while this lease is still the holder's with the same fence (else LeaseLost).
  const LeaseGuard* guard = nullptr;
  // Checked between rows: when it turns true the page is abandoned whole (WriteAbandoned), so a
  // stop never waits for a large page (a dropped file of 300,000 records) to be written.
  const std::atomic<bool>* abort = nullptr;
  // Recorded with the page (evaluation_intents), in the same transaction.
  std::span<const EvaluationIntent> intents;
};

// A record a source could not map into an item, kept aside with the reason (docs/connectors.md,
// "Quarantine") so that it never blocks the records after it. Keyed like items, by (source, kind,
// external id).
struct QuarantinedRecord {
  std::string source;       // the source's name
  std::string kind;         // the item kind it was to become
  std::string external_id;  // its id at the source
  std::string reason;       // why it could not be mapped
  std::string record;       // the record as read, JSON
  core::Instant first_seen{};
  core::Instant last_seen{};
  std::int64_t seen = 1;  // how many times it was read
  friend bool operator==(const QuarantinedRecord&, const QuarantinedRecord&) = default;
};

// One page of a source to store in one transaction: its items, the records it set aside, and the
// cursor after it (none for a backfill, which never moves the cursor).
struct SourcePage {
  std::string cursor_key;  // NAME or NAME#STREAM
  std::span<const Item> items;
  std::span<const QuarantinedRecord> quarantined;
  std::optional<std::string> cursor;
};

struct SourcePageCounts {
  std::int64_t written = 0;      // items inserted or changed
  std::int64_t unchanged = 0;    // items identical to what was stored (a re-read)
  std::int64_t quarantined = 0;  // records newly set aside, or set aside again for another reason
  std::int64_t requarantined = 0;  // records read again exactly as they were set aside
  std::int64_t released = 0;     // set-aside records that mapped this time (now items)
};

class Sources {
 public:
  explicit Sources(Database& db) : db_(db) {}
  // Stores a page of a source and advances its cursor in the same transaction: the cursor can
  // never run ahead of stored data. With `guard`, the page is stored only while the guard's lease
  // is still the holder's with the same fence (checked in the same transaction, the lease row
  // locked); otherwise LeaseLost.
  UpsertCounts store_page(const std::string& source, std::span<const Item> items, const std::string& cursor,
                          core::Instant now, const LeaseGuard* guard = nullptr);
  // The same, with what else the page's transaction must do (PageWrite).
  UpsertCounts store_page(const std::string& source, std::span<const Item> items, const std::string& cursor,
                          core::Instant now, const PageWrite& write);
  // Stores a page in one transaction: upserts its items, sets its quarantined records aside
  // (first_seen kept, seen counted up), takes records that now map out of the quarantine, and
  // sets the cursor when the page has one. With `guard`, only while the lease is the holder's
  // (else LeaseLost, nothing stored).
  SourcePageCounts store_page(const SourcePage& page, core::Instant now, const LeaseGuard* guard = nullptr);
  // The same, with what else the page's transaction must do (PageWrite).
  SourcePageCounts store_page(const SourcePage& page, core::Instant now, const PageWrite& write);
  // The records set aside, of one source or all, the most recently seen first.
  [[nodiscard]] std::vector<QuarantinedRecord> quarantined(const std::optional<std::string>& source = std::nullopt,
                                                           std::size_t limit = 1000);
  [[nodiscard]] std::optional<std::string> cursor(const std::string& source);
  void set_cursor(const std::string& source, const std::string& cursor, core::Instant now);
  // Moves a cursor on an operator's explicit command and writes the audit entry in the same
  // durable transaction (with `guard`, only while the source's lease is the holder's).
  void move_cursor(const std::string& cursor_key, const std::string& cursor, core::Instant now, const AuditEntry& audit,
                   const LeaseGuard* guard = nullptr);

 private:
  Database& db_;
};

}  // namespace pactwatch::store
