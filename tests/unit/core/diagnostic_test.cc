#include "pactwatch/core/diagnostic.h"

#include <gtest/gtest.h>

namespace pactwatch::core {
namespace {

TEST(Diagnostic, FormatsPosition) {
  EXPECT_EQ((Diagnostic{"a.yaml", 12, 5, "bad"}).to_string(), "a.yaml:12:5: bad");
  EXPECT_EQ((Diagnostic{"a.yaml", 12, 0, "bad"}).to_string(), "a.yaml:12: bad");
  EXPECT_EQ((Diagnostic{"a.yaml", 0, 0, "bad"}).to_string(), "a.yaml: bad");
}

TEST(Diagnostic, SuggestsCloseNames) {
  EXPECT_EQ(edit_distance("treshold", "threshold"), 1u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(did_you_mean("treshold", {"target", "threshold"}), "did you mean 'threshold'?");
  EXPECT_EQ(did_you_mean("zzzzzz", {"target", "threshold"}), "");
}

}  // namespace
}  // namespace pactwatch::core
