// The `file` source: a drop directory for teams that export from a system pactwatch has no
// poller for. Each NDJSON or CSV file dropped there (the import formats, docs/import.md) is
// imported whole or not at all, then moved to done/ — or to failed/ with a FILE.reason saying
// which lines are bad. A file is moved only after its items are committed, so a crash in between
// re-imports it, harmlessly (upserts are idempotent). Files whose name starts with "." are
// skipped (write there, then rename, so a half-written file is never read).
#pragma once

#include "pactwatch/config/config.h"
#include "pactwatch/core/clock.h"
#include "pactwatch/rules/partners.h"
#include "pactwatch/sources/sync.h"
#include "pactwatch/store/store.h"

namespace pactwatch::sources {

// With `abort`, a stop leaves the file being imported in the inbox, nothing of it stored: it is
// checked between the steps of a file and between rows of its transaction, so a stop never waits
// for a large file to be imported.
[[nodiscard]] SyncResult sync_drop_directory(const config::SourceConfig& source, store::Store& store,
                                             const std::vector<rules::PartnerDef>& partners, const core::Clock& clock,
                                             bool collect_changes = false, const std::atomic<bool>* abort = nullptr,
                                             SourceMetrics* metrics = nullptr);

}  // namespace pactwatch::sources
