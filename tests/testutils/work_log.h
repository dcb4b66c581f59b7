// Checks of the work log that several instances write (docs/scaling.md), shared by the
// multi-instance tests and drills.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "pactwatch/store/store.h"

namespace pactwatch::testutils {

// Per shard lease: no two holders' stored work overlaps in time, and fences only grow (strictly
// at a change of holder). Returns the entries by lease, each in order of start, and counts the
// changes of holder into `handovers`.
inline std::map<std::string, std::vector<store::WorkEntry>> expect_no_overlapping_work(const std::vector<store::WorkEntry>& log,
                                                                                        int& handovers) {
  std::map<std::string, std::vector<store::WorkEntry>> by_shard;
  for (const auto& w : log) by_shard[w.lease].push_back(w);
  handovers = 0;
  for (auto& [lease, entries] : by_shard) {
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.started_at < b.started_at; });
    for (std::size_t i = 1; i < entries.size(); ++i) {
      const auto& before = entries[i - 1];
      const auto& after = entries[i];
      EXPECT_LE(before.fence, after.fence) << lease;
      if (before.holder != after.holder) {
        ++handovers;
        EXPECT_LE(before.finished_at, after.started_at) << lease << ": " << before.holder << " and " << after.holder << " at once";
        EXPECT_LT(before.fence, after.fence) << lease;
      }
    }
  }
  return by_shard;
}

}  // namespace pactwatch::testutils
