// `pactwatch calendar`: questions about business time, answered from a calendar file.
#include <charconv>
#include <iostream>

#include "context.h"
#include "pactwatch/calendar/calendar_file.h"
#include "pactwatch/core/time.h"

namespace pactwatch::cli {

namespace {

// `pactwatch calendar FILE OP ARGS`: answers one question about a calendar, for users debugging
// a calendar file and for tests.
struct CalendarArgs {
  std::string file;
  std::string t1;
  std::string t2;
  std::string amount;
  std::size_t count = 1;
  bool before = false;
};

std::optional<core::Instant> instant_arg(const std::string& text) {
  auto t = core::parse_rfc3339(text);
  if (!t) {
    std::cerr << "pactwatch: " << t.error() << '\n';
    return std::nullopt;
  }
  return *t;
}

// Whole seconds ("3600") or a duration ("1h30m", "PT4H").
std::optional<calendar::Millis> amount_arg(const std::string& text) {
  std::int64_t seconds = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (ec == std::errc() && ptr == text.data() + text.size() && seconds >= 0) return calendar::Millis(seconds * 1000);
  auto d = core::parse_duration(text);
  if (!d) {
    std::cerr << "pactwatch: '" << text << "' is neither a number of seconds nor a duration\n";
    return std::nullopt;
  }
  return std::chrono::duration_cast<calendar::Millis>(*d);
}

int cmd_calendar(const CalendarArgs& a, const std::string& op) {
  auto cal = calendar::load_calendar(a.file);
  if (!cal) {
    print_diagnostics(cal.error());
    return kExitFailure;
  }
  auto t1 = instant_arg(a.t1);
  if (!t1) return kExitFailure;
  auto print_or_fail = [](const std::expected<core::Instant, std::string>& r) {
    if (!r) {
      std::cerr << "pactwatch: " << r.error() << '\n';
      return kExitFailure;
    }
    std::cout << core::format_rfc3339(*r) << '\n';
    return kExitOk;
  };
  if (op == "duration") {
    auto t2 = instant_arg(a.t2);
    if (!t2) return kExitFailure;
    std::cout << std::chrono::duration_cast<std::chrono::seconds>(cal->duration(*t1, *t2)).count() << '\n';
    return kExitOk;
  }
  if (op == "add" || op == "sub") {
    auto d = amount_arg(a.amount);
    if (!d) return kExitFailure;
    return print_or_fail(op == "add" ? cal->add(*t1, *d) : cal->sub(*t1, *d));
  }
  if (op == "is-open") {
    std::cout << (cal->is_open(*t1) ? "open" : "closed") << '\n';
    return kExitOk;
  }
  if (op == "next-open") return print_or_fail(cal->next_open(*t1));
  for (const auto& span : cal->periods(*t1, a.count, a.before)) {
    std::cout << core::format_rfc3339(span.start) << ' ' << core::format_rfc3339(span.end) << '\n';
  }
  return kExitOk;
}

}  // namespace

void register_calendar_command(CLI::App& app, Context& ctx) {
  auto& cal_args = ctx.hold<CalendarArgs>();
  auto* cal = app.add_subcommand("calendar", "Ask a calendar (a file or the built-in 24x7) about business time");
  cal->add_option("file", cal_args.file, "Calendar file, or 24x7")->required();
  cal->require_subcommand(1);
  auto add_t = [&](CLI::App* sub, std::string* where, const char* name) {
    sub->add_option(name, *where, "Instant, RFC 3339 with Z or an offset")->required();
  };
  auto* c_duration = cal->add_subcommand("duration", "Business seconds in [T1, T2)");
  add_t(c_duration, &cal_args.t1, "T1");
  add_t(c_duration, &cal_args.t2, "T2");
  auto* c_add = cal->add_subcommand("add", "The instant when SECONDS of business time have passed after T");
  add_t(c_add, &cal_args.t1, "T");
  c_add->add_option("SECONDS", cal_args.amount, "Seconds, or a duration such as 4h")->required();
  auto* c_sub = cal->add_subcommand("sub", "The latest instant SECONDS of business time before T");
  add_t(c_sub, &cal_args.t1, "T");
  c_sub->add_option("SECONDS", cal_args.amount, "Seconds, or a duration such as 4h")->required();
  auto* c_open = cal->add_subcommand("is-open", "\"open\" or \"closed\" at T");
  add_t(c_open, &cal_args.t1, "T");
  auto* c_next = cal->add_subcommand("next-open", "T when open, else the next opening");
  add_t(c_next, &cal_args.t1, "T");
  auto* c_periods = cal->add_subcommand("periods", "N open intervals after T (or before, with --before), nearest first");
  add_t(c_periods, &cal_args.t1, "T");
  c_periods->add_option("N", cal_args.count, "How many")->required()->check(CLI::Range(1, 10000));
  c_periods->add_flag("--before", cal_args.before, "Intervals before T");
  for (auto* sub : {c_duration, c_add, c_sub, c_open, c_next, c_periods}) {
    sub->callback([&, sub] { ctx.rc = cmd_calendar(cal_args, sub->get_name()); });
  }
}

}  // namespace pactwatch::cli
