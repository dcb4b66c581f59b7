#include "pactwatch/core/metrics.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>
#include <vector>

namespace pactwatch::core {
namespace {

TEST(MetricsRegistry, RendersFamiliesInRegistrationOrderAndSeriesByLabels) {
  MetricsRegistry r;
  auto& requests = r.integers({"x_requests_total", MetricType::counter, "Requests made.", {"source", "kind"}});
  auto& seconds = r.reals({"x_seconds_total", MetricType::counter, "Time spent.", {"kind"}});
  auto& up = r.integers({"x_up", MetricType::gauge, "1 while up.", {}});
  requests.with({"zeta", "a"}).add();
  requests.with({"alpha", "b"}).add(3);
  requests.with({"zeta", "a"}).add(2);
  seconds.with({"full"}).add(1.5);
  up.get().set(1);
  EXPECT_EQ(r.render(),
            "# HELP x_requests_total Requests made.\n"
            "# TYPE x_requests_total counter\n"
            "x_requests_total{source=\"alpha\",kind=\"b\"} 3\n"
            "x_requests_total{source=\"zeta\",kind=\"a\"} 3\n"
            "# HELP x_seconds_total Time spent.\n"
            "# TYPE x_seconds_total counter\n"
            "x_seconds_total{kind=\"full\"} 1.500000\n"
            "# HELP x_up 1 while up.\n"
            "# TYPE x_up gauge\n"
            "x_up 1\n");
  EXPECT_EQ(requests.value({"zeta", "a"}), 3);
  EXPECT_EQ(requests.value({"none", "a"}), 0);
}

TEST(MetricsRegistry, AFamilyWithoutSeriesShowsItsHeader) {
  MetricsRegistry r;
  r.integers({"x_total", MetricType::counter, "Nothing yet.", {"source"}});
  EXPECT_EQ(r.render(), "# HELP x_total Nothing yet.\n# TYPE x_total counter\n");
}

TEST(MetricsRegistry, EscapesLabelValuesAndHelp) {
  MetricsRegistry r;
  auto& f = r.integers({"x_total", MetricType::counter, "A \\ backslash\nand a line.", {"name"}});
  f.with({"a\"b\\c\nd"}).add();
  EXPECT_EQ(r.render(),
            "# HELP x_total A \\\\ backslash\\nand a line.\n"
            "# TYPE x_total counter\n"
            "x_total{name=\"a\\\"b\\\\c\\nd\"} 1\n");
  EXPECT_EQ(escape_label_value("plain {}=,"), "plain {}=,");
  EXPECT_EQ(escape_help("say \"hi\""), "say \"hi\"") << "quotes stay in help text";
}

TEST(MetricsRegistry, TheSameSpecGivesTheSameFamilyAnotherOneIsRefused) {
  MetricsRegistry r;
  const MetricSpec spec{"x_total", MetricType::counter, "Counted.", {"a"}};
  auto& one = r.integers(spec);
  auto& two = r.integers(spec);
  EXPECT_EQ(&one, &two);
  EXPECT_THROW(r.integers({"x_total", MetricType::counter, "Other help.", {"a"}}), std::logic_error);
  EXPECT_THROW(r.integers({"x_total", MetricType::gauge, "Counted.", {"a"}}), std::logic_error);
  EXPECT_THROW(r.reals(spec), std::logic_error) << "another kind of value";
  EXPECT_THROW(one.with({"a", "b"}), std::logic_error) << "two values for one label";
  ASSERT_EQ(r.specs().size(), 1u);
  EXPECT_EQ(r.specs()[0], spec);
}

TEST(MetricsRegistry, SetAllReplacesTheSeries) {
  MetricsRegistry r;
  auto& f = r.integers({"x", MetricType::gauge, "By status.", {"status"}});
  f.set_all({{{"met"}, 2}, {{"breached"}, 1}});
  f.set_all({{{"met"}, 3}});
  EXPECT_EQ(r.render(), "# HELP x By status.\n# TYPE x gauge\nx{status=\"met\"} 3\n");
}

TEST(MetricsRegistry, ComputedFamiliesAskTheirOwnerAtEachRender) {
  MetricsRegistry r;
  std::int64_t open = 2;
  const MetricSpec spec{"x_open", MetricType::gauge, "Open now.", {}};
  r.computed(spec, [&] { return ComputedFamily::Samples{{{}, open}}; });
  EXPECT_EQ(r.render(), "# HELP x_open Open now.\n# TYPE x_open gauge\nx_open 2\n");
  open = 5;
  EXPECT_NE(r.render().find("x_open 5\n"), std::string::npos);
  r.computed(spec, [] { return ComputedFamily::Samples{}; });
  EXPECT_EQ(r.render(), "# HELP x_open Open now.\n# TYPE x_open gauge\n") << "registering again replaces the callback";
}

TEST(MetricsRegistry, CountsFromManyThreadsWhileRendering) {
  MetricsRegistry r;
  auto& n = r.integers({"x_total", MetricType::counter, "Counted.", {"thread"}});
  auto& s = r.reals({"x_seconds_total", MetricType::counter, "Summed.", {}});
  constexpr int kThreads = 8, kEach = 20000;
  std::vector<std::thread> threads;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done) EXPECT_FALSE(r.render().empty());
  });
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        n.with({std::to_string(t % 3)}).add();  // threads share series
        s.get().add(0.5);
        if (i % 1000 == 0) r.integers({"x_total", MetricType::counter, "Counted.", {"thread"}});  // registered again meanwhile
      }
    });
  }
  for (auto& t : threads) t.join();
  done = true;
  reader.join();
  std::int64_t total = 0;
  for (const char* t : {"0", "1", "2"}) total += n.value({t});
  EXPECT_EQ(total, kThreads * kEach);
  EXPECT_DOUBLE_EQ(s.get().value(), 0.5 * kThreads * kEach);
}

}  // namespace
}  // namespace pactwatch::core
