// Google Benchmark for the calendar kernels: duration() and add() on a realistic calendar (two
// intervals a day, 15 holidays a year, a DST zone) at random instants over three years, next to
// a naive reference that walks day by day through the same spec (resolving each day's intervals
// with the tz database), measured in the same run.
#include <benchmark/benchmark.h>
#include <date/tz.h>

#include <random>

#include "pactwatch/calendar/calendar.h"

namespace {

using namespace std::chrono;
using namespace pactwatch;
using calendar::CalendarSpec;
using calendar::LocalDate;

CalendarSpec realistic_spec() {
  CalendarSpec spec;
  spec.name = "bench";
  spec.timezone = "Europe/Paris";
  for (int d = 1; d <= 5; ++d) spec.weekly[static_cast<std::size_t>(d)] = {{9 * 60, 12 * 60 + 30}, {13 * 60 + 30, 18 * 60}};
  std::mt19937_64 rng(1);
  for (int y = 2025; y <= 2028; ++y) {
    for (int i = 0; i < 15; ++i) {
      spec.holidays.insert(LocalDate{sys_days(year{y} / January / 1)} + days(static_cast<int>(rng() % 365)));
    }
  }
  return spec;
}

const calendar::Calendar& realistic() {
  static const calendar::Calendar cal = *calendar::Calendar::compile(realistic_spec(), {2024, 2029});
  return cal;
}

std::vector<core::Instant> random_instants(std::size_t n) {
  std::mt19937_64 rng(42);
  const std::int64_t start = core::to_unix_ms(*core::parse_rfc3339("2026-01-01T00:00:00Z"));
  const std::int64_t span = 3LL * 365 * 86'400'000;
  std::vector<core::Instant> out(n);
  for (auto& t : out) t = core::from_unix_ms(start + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(span)));
  return out;
}

// The naive way: walk the local days between a and b, resolving each day's intervals.
std::int64_t naive_duration(const CalendarSpec& spec, const date::time_zone* z, core::Instant a, core::Instant b) {
  if (b <= a) return 0;
  std::int64_t total = 0;
  const LocalDate first = floor<days>(sys_time<milliseconds>(a)) - days(2);
  const LocalDate last = floor<days>(sys_time<milliseconds>(b)) + days(1);
  for (LocalDate d = first; d <= last; d += days(1)) {
    for (const auto& iv : calendar::day_intervals(spec, d)) {
      auto resolve = [&](int m) {
        const date::local_seconds local{seconds(d.time_since_epoch()) + minutes(m)};
        return (local.time_since_epoch() - z->get_info(local).first.offset).count() * 1000;
      };
      const std::int64_t s = std::max(resolve(iv.start), core::to_unix_ms(a));
      const std::int64_t e = std::min(resolve(iv.end), core::to_unix_ms(b));
      if (e > s) total += e - s;
    }
  }
  return total;
}

void BM_Duration(benchmark::State& state) {
  const auto& cal = realistic();
  const auto ts = random_instants(1 << 16);
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(cal.duration(ts[i & 0xFFFF], ts[(i + 1) & 0xFFFF]));
    ++i;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_Duration);

void BM_Add(benchmark::State& state) {
  const auto& cal = realistic();
  const auto ts = random_instants(1 << 16);
  std::mt19937_64 rng(7);
  std::vector<calendar::Millis> ds(1 << 16);
  for (auto& d : ds) d = calendar::Millis(static_cast<std::int64_t>(rng() % (200LL * 3'600'000)));
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(cal.add(ts[i & 0xFFFF], ds[i & 0xFFFF]));
    ++i;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_Add);

// Reference: same pairs, but within a week of each other (it walks every day in between).
void BM_NaiveDurationOneWeek(benchmark::State& state) {
  const auto spec = realistic_spec();
  const auto* z = date::locate_zone(spec.timezone);
  const auto ts = random_instants(1 << 12);
  std::size_t i = 0;
  for (auto _ : state) {
    const auto a = ts[i & 0xFFF];
    benchmark::DoNotOptimize(naive_duration(spec, z, a, a + hours(24 * 7)));
    ++i;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_NaiveDurationOneWeek);

void BM_DurationOneWeek(benchmark::State& state) {
  const auto& cal = realistic();
  const auto ts = random_instants(1 << 12);
  std::size_t i = 0;
  for (auto _ : state) {
    const auto a = ts[i & 0xFFF];
    benchmark::DoNotOptimize(cal.duration(a, a + hours(24 * 7)));
    ++i;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_DurationOneWeek);

void BM_Compile(benchmark::State& state) {
  const auto spec = realistic_spec();
  for (auto _ : state) benchmark::DoNotOptimize(calendar::Calendar::compile(spec));  // 1990-2037
}
BENCHMARK(BM_Compile)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
