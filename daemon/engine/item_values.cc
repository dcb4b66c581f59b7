#include "pactwatch/engine/item_values.h"

#include <algorithm>

#include "pactwatch/engine/item_timeline.h"

namespace pactwatch::engine {

namespace {

std::optional<core::Instant> instant_field(const nlohmann::json& p, const char* key) {
  if (!p.contains(key) || !p[key].is_string()) return std::nullopt;
  auto t = core::parse_rfc3339(p[key].get<std::string>());
  if (!t) return std::nullopt;
  return *t;
}

Value from_json(const nlohmann::json& v) {
  Value out;
  if (v.is_boolean()) {
    out.kind = Value::Kind::boolean;
    out.boolean = v.get<bool>();
  } else if (v.is_number_integer()) {
    out.kind = Value::Kind::number;
    out.number = v.get<std::int64_t>() * kNumberScale;
  } else if (v.is_number_float()) {
    // JSON floats from a source are read through their shortest decimal text, never used as double.
    if (auto n = parse_number(v.dump())) {
      out.kind = Value::Kind::number;
      out.number = *n;
    }
  } else if (v.is_string()) {
    out.kind = Value::Kind::string;
    out.string = v.get<std::string>();
  } else if (v.is_array()) {
    out.kind = Value::Kind::list;
    for (const auto& e : v) {
      if (e.is_string()) out.list.push_back(e.get<std::string>());
    }
  }
  return out;
}

Value boolean(bool b) {
  Value v;
  v.kind = Value::Kind::boolean;
  v.boolean = b;
  return v;
}

Value duration(Millis d, bool running) {
  Value v;
  v.kind = Value::Kind::duration;
  v.duration = d;
  v.running = running;
  return v;
}

Value literal_value(const rules::Literal& lit) {
  Value v;
  switch (lit.index()) {
    case 0: v = boolean(std::get<bool>(lit)); break;
    case 1:
      v.kind = Value::Kind::string;
      v.string = std::get<std::string>(lit);
      break;
    case 2:
      v.kind = Value::Kind::number;
      v.number = to_micro(std::get<core::Ratio>(lit));
      break;
    case 3: v = duration(std::chrono::duration_cast<Millis>(std::get<core::Duration>(lit)), false); break;
    case 4:
      v.kind = Value::Kind::money;
      v.money = std::get<core::Money>(lit);
      break;
    default:
      v.kind = Value::Kind::list;
      v.list = std::get<std::vector<std::string>>(lit);
      break;
  }
  return v;
}

Truth from_bool(bool b) { return b ? Truth::yes : Truth::no; }

Truth compare(const Value& a, const Value& b, rules::CompareOp op) {
  if (a.kind == Value::Kind::null || b.kind == Value::Kind::null) return Truth::unknown;
  if (a.running || b.running) return Truth::unknown;  // see compare_at for a running timer
  if (a.kind == Value::Kind::duration && b.kind == Value::Kind::duration) {
    return from_bool(holds(three_way(a.duration, b.duration), op));
  }
  if (a.kind != b.kind) {
    // custom fields and survey scores may be either a string or a number
    if (a.kind == Value::Kind::string && b.kind == Value::Kind::number) {
      if (auto n = parse_number(a.string)) return from_bool(holds(three_way(*n, b.number), op));
    }
    if (a.kind == Value::Kind::number && b.kind == Value::Kind::string) {
      if (auto n = parse_number(b.string)) return from_bool(holds(three_way(a.number, *n), op));
    }
    return op == rules::CompareOp::ne ? Truth::yes : Truth::no;
  }
  switch (a.kind) {
    case Value::Kind::boolean: return from_bool(holds(three_way(a.boolean, b.boolean), op));
    case Value::Kind::string: return from_bool(holds(a.string.compare(b.string) < 0 ? -1 : a.string == b.string ? 0 : 1, op));
    case Value::Kind::number: return from_bool(holds(three_way(a.number, b.number), op));
    case Value::Kind::money:
      if (!(a.money->currency() == b.money->currency())) return Truth::unknown;
      return from_bool(holds(three_way(a.money->minor_units(), b.money->minor_units()), op));
    default: return Truth::unknown;
  }
}

Value value_of(const rules::Expr& e, const ItemContext& item) {
  if (e.kind == rules::Expr::Kind::literal) return literal_value(*e.value);
  if (e.kind == rules::Expr::Kind::field) return item.field(e.field);
  return boolean(evaluate(e, item) == Truth::yes);
}

rules::CompareOp mirrored(rules::CompareOp op) {
  using O = rules::CompareOp;
  switch (op) {
    case O::lt: return O::gt;
    case O::le: return O::ge;
    case O::gt: return O::lt;
    case O::ge: return O::le;
    default: return op;
  }
}

// A comparison, with a timer that has not stopped (running or paused) on either side. Its elapsed
// time only grows, so it is decided once more time cannot change the result: `<=`, `<` and `==`
// become false past the duration (`<` at it), `>=`, `>` and `!=` true. Otherwise a running timer
// decides it at the instant it reaches the duration (false for `<=`, `<`, `==`; true for the
// others); a paused one leaves it unknown.
Truth compare_at(const rules::Expr& e, const ItemContext& item, std::optional<core::Instant> at,
                 std::vector<core::Instant>* flips) {
  Value a = value_of(*e.args[0], item);
  Value b = value_of(*e.args[1], item);
  const rules::Expr* timer_side = e.args[0].get();
  rules::CompareOp op = e.op;
  if (b.running && !a.running) {
    std::swap(a, b);
    timer_side = e.args[1].get();
    op = mirrored(op);
  }
  if (!a.running) return compare(a, b, op);
  if (a.kind == Value::Kind::null || b.kind == Value::Kind::null) return Truth::unknown;
  if (b.running || b.kind != Value::Kind::duration) return Truth::unknown;  // two timers: undecided
  using O = rules::CompareOp;
  const Millis el = a.duration;
  const Millis target = b.duration;
  switch (op) {
    case O::le:
    case O::eq:
      if (el > target) return Truth::no;
      break;
    case O::lt:
      if (el >= target) return Truth::no;
      break;
    case O::ge:
      if (el >= target) return Truth::yes;
      break;
    case O::gt:
    case O::ne:
      if (el > target) return Truth::yes;
      break;
  }
  if (timer_side->kind != rules::Expr::Kind::field) return Truth::unknown;
  const auto flip = item.deadline(timer_side->field, target);
  if (!flip) return Truth::unknown;
  if (flips != nullptr) flips->push_back(*flip);
  if (at && *at >= *flip) return (op == O::le || op == O::lt || op == O::eq) ? Truth::no : Truth::yes;
  return Truth::unknown;
}

}  // namespace

bool holds(int cmp, rules::CompareOp op) {
  switch (op) {
    case rules::CompareOp::eq: return cmp == 0;
    case rules::CompareOp::ne: return cmp != 0;
    case rules::CompareOp::lt: return cmp < 0;
    case rules::CompareOp::le: return cmp <= 0;
    case rules::CompareOp::gt: return cmp > 0;
    case rules::CompareOp::ge: return cmp >= 0;
  }
  return false;
}

Value typed_for_measure(Value v, rules::ValueType measured, const std::optional<core::Currency>& currency) {
  if (v.kind == Value::Kind::null) return v;
  switch (measured) {
    case rules::ValueType::duration:
      if (v.kind == Value::Kind::duration) return v;
      break;
    case rules::ValueType::money:
      if (v.kind == Value::Kind::money && currency && v.money->currency() == *currency) return v;
      break;
    default:  // numbers, and fields that may hold a number or a label (survey scores, custom fields)
      if (v.kind == Value::Kind::number) return v;
      if (v.kind == Value::Kind::string) {
        if (auto n = parse_number(v.string)) {
          Value out;
          out.kind = Value::Kind::number;
          out.number = *n;
          return out;
        }
      }
      break;
  }
  return {};
}

std::optional<std::int64_t> parse_number(std::string_view s) {
  auto r = core::Ratio::parse(s);
  if (!r) return std::nullopt;
  const core::Int128 scaled = core::divide_rounded(static_cast<core::Int128>(r->numerator) * kNumberScale,
                                                   r->denominator, core::Rounding::half_even);
  if (scaled > INT64_MAX || scaled < INT64_MIN) return std::nullopt;
  return static_cast<std::int64_t>(scaled);
}

std::int64_t to_micro(const core::Ratio& r) {
  return static_cast<std::int64_t>(core::divide_rounded(static_cast<core::Int128>(r.numerator) * kNumberScale,
                                                        r.denominator, core::Rounding::half_even));
}

std::string format_number(std::int64_t micro) {
  const bool negative = micro < 0;
  const auto mag = negative ? -static_cast<core::Int128>(micro) : static_cast<core::Int128>(micro);
  std::string out = (negative ? "-" : "") + std::to_string(static_cast<std::int64_t>(mag / kNumberScale));
  auto frac = static_cast<std::int64_t>(mag % kNumberScale);
  if (frac != 0) {
    std::string f = std::to_string(frac);
    f.insert(0, 6 - f.size(), '0');
    while (f.back() == '0') f.pop_back();
    out += "." + f;
  }
  return out;
}

ItemContext::ItemContext(const core::Item& item, const rules::ContractVersion& contract, const calendar::Calendar& cal,
                         core::Instant as_of)
    : item_(&item), contract_(&contract), cal_(&cal), as_of_(as_of) {
  payload_ = nlohmann::json::parse(item.payload, nullptr, false);
  if (payload_.is_discarded() || !payload_.is_object()) {
    problem_ = "payload is not a JSON object";
    payload_ = nlohmann::json::object();
  }
  if (item.kind == "tickets") {
    auto t = timeline_from_item(item, payload_);
    if (t) timeline_ = std::move(*t);
    else problem_ = t.error();
  }
}

std::optional<TimerResult> ItemContext::timer(const std::string& name) const {
  if (auto it = timers_.find(name); it != timers_.end()) return it->second;
  auto result = run_timer(name, std::nullopt);
  timers_[name] = result;
  return result;
}

std::optional<core::Instant> ItemContext::deadline(const std::string& name, Millis target) const {
  if (item_->kind == "deals" && name == "registration_approval") {
    // Business time from registration, never paused, until approval.
    const auto registered = instant_field(payload_, "registered_at");
    if (!registered || instant_field(payload_, "approved_at")) return std::nullopt;
    if (auto at = cal_->add(*registered, target)) return *at;
    return std::nullopt;
  }
  auto r = run_timer(name, target);
  if (!r || r->state != TimerState::running) return std::nullopt;
  return r->breach_at;
}

std::optional<core::Instant> ItemContext::solved_at() const {
  if (!timeline_) return std::nullopt;
  return solve_instant(*timeline_, as_of_);
}

std::optional<TimerResult> ItemContext::run_timer(const std::string& name, std::optional<Millis> target) const {
  std::optional<TimerResult> result;
  if (timeline_) {
    TimerPolicy policy;
    std::optional<TicketTimeline> derived;
    const TicketTimeline* tl = &*timeline_;
    bool ok = true;
    if (auto k = parse_timer_kind(name)) {
      policy.kind = *k;
    } else if (name == "brand_ack" || name == "on_site") {
      // From an escalation (or creation) to a recorded instant, on the calendar, never paused.
      const auto start = name == "brand_ack" ? instant_field(payload_, "escalated_at") : timeline_->created_at;
      const auto stop = instant_field(payload_, name == "brand_ack" ? "brand_ack_at" : "on_site_at");
      if (start) {
        derived = TicketTimeline{*start, {}, {}, {}};
        if (stop) derived->agent_replies.push_back(*stop);
        tl = &*derived;
        policy.kind = TimerKind::first_reply;
      } else {
        ok = false;
      }
    } else {
      ok = false;
    }
    if (ok) {
      policy.target = target;
      if (auto p = contract_->pause_in.find(name); p != contract_->pause_in.end()) policy.pause_in = p->second;
      auto runs = evaluate_timer(*tl, policy, *cal_, as_of_);
      if (!runs.empty()) {
        if (policy.kind == TimerKind::next_reply) {
          // The longest wait counts. While a cycle is open (the last one) the value is still a timer:
          // only that cycle can grow, and it alone decides when a target is reached.
          const auto& longest = *std::max_element(
              runs.begin(), runs.end(), [](const TimerResult& a, const TimerResult& b) { return a.elapsed < b.elapsed; });
          if (!runs.back().stopped_at) {
            result = runs.back();
            result->elapsed = std::max(longest.elapsed, runs.back().elapsed);
          } else {
            result = longest;
          }
        } else {
          result = runs.front();
        }
      }
    }
  }
  return result;
}

Value ItemContext::field(const std::string& name) const {
  const core::Item& it = *item_;
  if (name.rfind("custom.", 0) == 0) {
    const auto key = name.substr(7);
    if (payload_.contains("custom") && payload_["custom"].is_object() && payload_["custom"].contains(key)) {
      return from_json(payload_["custom"][key]);
    }
    return {};
  }
  // A record without a status, stage or priority has a missing one, not an empty label.
  if (name == "status" || (name == "stage" && !payload_.contains("stage"))) {
    if (it.status.empty()) return {};
    Value v;
    v.kind = Value::Kind::string;
    v.string = it.status;
    return v;
  }
  if (name == "priority") {
    if (it.priority.empty()) return {};
    Value v;
    v.kind = Value::Kind::string;
    v.string = it.priority;
    return v;
  }
  if (name == "amount") {
    if (!it.amount_minor) return {};
    auto cur = core::Currency::from_code(it.currency);
    if (!cur) return {};
    Value v;
    v.kind = Value::Kind::money;
    v.money = core::Money(*it.amount_minor, *cur);
    return v;
  }
  if (it.kind == "tickets") {
    if (name == "solved") return boolean(solved_at().has_value());
    if (name == "replies" && !payload_.contains("replies") && timeline_) {
      Value v;
      v.kind = Value::Kind::number;
      v.number = static_cast<std::int64_t>(timeline_->agent_replies.size()) * kNumberScale;
      return v;
    }
    if (name == "first_contact_resolution" && !payload_.contains(name) && timeline_) {
      return boolean(solved_at().has_value() && timeline_->agent_replies.size() == 1);
    }
    if (name == "first_reply" || name == "next_reply" || name == "resolution" || name == "requester_wait" ||
        name == "agent_work" || name == "brand_ack" || name == "on_site") {
      auto t = timer(name);
      if (!t) return {};
      const bool running = !t->stopped_at.has_value();
      return duration(t->elapsed, running);
    }
  }
  if (it.kind == "deals") {
    const auto registered = instant_field(payload_, "registered_at");
    const auto approved = instant_field(payload_, "approved_at");
    const auto closed = instant_field(payload_, "closed_at");
    if (name == "registered") return boolean(registered.has_value());
    if (name == "approved") return boolean(approved.has_value());
    if (name == "closed") return boolean(closed.has_value());
    if (name == "refunded") return boolean(instant_field(payload_, "refunded_at").has_value());
    if (name == "registration_approval") {
      if (!registered) return {};
      const core::Instant end = approved ? *approved : as_of_;
      return duration(cal_->duration(*registered, end), !approved);
    }
    if (name == "time_to_close") {
      if (!it.created_at || !closed) return {};
      return duration(std::chrono::duration_cast<Millis>(*closed - *it.created_at), false);
    }
  }
  if (it.kind == "events" && name == "duration" && payload_.contains("duration_seconds")) {
    const auto& d = payload_["duration_seconds"];
    if (d.is_number_integer()) return duration(Millis(d.get<std::int64_t>() * 1000), false);
    return {};
  }
  if (payload_.contains(name)) {
    Value v = from_json(payload_[name]);
    if (name == "value" && v.kind == Value::Kind::string) {
      if (auto n = parse_number(v.string)) {
        v.kind = Value::Kind::number;
        v.number = *n;
      }
    }
    return v;
  }
  if (name == "tags") {
    Value v;
    v.kind = Value::Kind::list;
    return v;
  }
  return {};
}

Truth evaluate(const rules::Expr& e, const ItemContext& item) { return evaluate_at(e, item, std::nullopt, nullptr); }

std::optional<core::Instant> breach_instant(const rules::Expr& e, const ItemContext& item) {
  std::vector<core::Instant> flips;
  if (evaluate_at(e, item, std::nullopt, &flips) != Truth::unknown) return std::nullopt;
  std::sort(flips.begin(), flips.end());
  flips.erase(std::unique(flips.begin(), flips.end()), flips.end());
  for (const auto& f : flips) {
    if (evaluate_at(e, item, f, nullptr) == Truth::no) return f;
  }
  return std::nullopt;
}

Truth evaluate_at(const rules::Expr& e, const ItemContext& item, std::optional<core::Instant> at,
                  std::vector<core::Instant>* flips) {
  using K = rules::Expr::Kind;
  switch (e.kind) {
    case K::all_of: {
      Truth t = Truth::yes;
      for (const auto& a : e.args) {
        const Truth x = evaluate_at(*a, item, at, flips);
        if (x == Truth::no) return Truth::no;
        if (x == Truth::unknown) t = Truth::unknown;
      }
      return t;
    }
    case K::any_of: {
      Truth t = Truth::no;
      for (const auto& a : e.args) {
        const Truth x = evaluate_at(*a, item, at, flips);
        if (x == Truth::yes) return Truth::yes;
        if (x == Truth::unknown) t = Truth::unknown;
      }
      return t;
    }
    case K::negate: {
      const Truth x = evaluate_at(*e.args[0], item, at, flips);
      return x == Truth::unknown ? x : (x == Truth::yes ? Truth::no : Truth::yes);
    }
    case K::compare: return compare_at(e, item, at, flips);
    case K::in:
    case K::not_in: {
      const Value needle = value_of(*e.args[0], item);
      const Value hay = value_of(*e.args[1], item);
      if (needle.kind == Value::Kind::null) return Truth::unknown;
      const bool found = std::find(hay.list.begin(), hay.list.end(), needle.string) != hay.list.end();
      return from_bool(e.kind == K::in ? found : !found);
    }
    case K::field: {
      const Value v = item.field(e.field);
      if (v.kind != Value::Kind::boolean) return Truth::unknown;
      return from_bool(v.boolean);
    }
    case K::literal: return from_bool(e.value && e.value->index() == 0 && std::get<bool>(*e.value));
  }
  return Truth::unknown;
}

}  // namespace pactwatch::engine
