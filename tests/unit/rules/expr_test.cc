#include "pactwatch/rules/expr.h"

#include <gtest/gtest.h>

namespace pactwatch::rules {
namespace {

std::unique_ptr<Expr> ok(std::string_view text, SourceKind kind = SourceKind::tickets) {
  auto e = parse_condition(text, kind);
  if (!e) ADD_FAILURE() << text << ": " << e.error().column << ": " << e.error().message;
  return e ? std::move(*e) : nullptr;
}

ExprError bad(std::string_view text, SourceKind kind = SourceKind::tickets) {
  auto e = parse_condition(text, kind);
  if (e) {
    ADD_FAILURE() << text << " parsed";
    return {};
  }
  return e.error();
}

TEST(Expr, ComparisonsAndPrecedence) {
  auto e = ok(R"(priority == "urgent" or priority == "high" and not reopens > 2)");
  ASSERT_TRUE(e);
  ASSERT_EQ(e->kind, Expr::Kind::any_of);  // and binds tighter than or
  ASSERT_EQ(e->args.size(), 2u);
  EXPECT_EQ(e->args[1]->kind, Expr::Kind::all_of);
  EXPECT_EQ(e->args[1]->args[1]->kind, Expr::Kind::negate);
  auto p = ok(R"((priority == "urgent" or priority == "high") and reopens <= 2)");
  EXPECT_EQ(p->kind, Expr::Kind::all_of);
  auto c = ok("first_reply <= 1h");
  EXPECT_EQ(c->kind, Expr::Kind::compare);
  EXPECT_EQ(c->op, CompareOp::le);
  EXPECT_EQ(c->args[0]->field, "first_reply");
  EXPECT_EQ(std::get<core::Duration>(*c->args[1]->value), std::chrono::hours(1));
}

TEST(Expr, MembershipAndLists) {
  auto e = ok(R"(priority in ["high", "urgent"])");
  EXPECT_EQ(e->kind, Expr::Kind::in);
  EXPECT_EQ(std::get<std::vector<std::string>>(*e->args[1]->value).size(), 2u);
  auto t = ok(R"("escalated_to_brand" in tags)");
  EXPECT_EQ(t->args[1]->field, "tags");
  auto n = ok(R"("vip" not in tags)");
  EXPECT_EQ(n->kind, Expr::Kind::not_in);
  EXPECT_TRUE(ok("custom.region in [\"emea\", 'apac']"));
}

TEST(Expr, LiteralsAreExact) {
  auto p = ok("reopens >= 12.5%");
  const auto& r = std::get<core::Ratio>(*p->args[1]->value);
  EXPECT_EQ(r.numerator, 125);
  EXPECT_EQ(r.denominator, 1000);
  auto m = ok("amount >= EUR 10000.50", SourceKind::deals);
  const auto& money = std::get<core::Money>(*m->args[1]->value);
  EXPECT_EQ(money.minor_units(), 1000050);
  EXPECT_EQ(money.currency().code(), "EUR");
  auto d = ok("resolution < 1d2h30m");
  EXPECT_EQ(std::get<core::Duration>(*d->args[1]->value), std::chrono::minutes(26 * 60 + 30));
  EXPECT_TRUE(ok("score >= 4 and score != \"bad\"", SourceKind::surveys));
  EXPECT_TRUE(ok("won == true and refunded == false", SourceKind::deals));
  EXPECT_TRUE(ok("value > -3.25", SourceKind::events));
}

TEST(Expr, UnknownFieldsNameTheValidOnes) {
  auto e = bad("prority == \"urgent\"");
  EXPECT_EQ(e.column, 1);
  EXPECT_NE(e.message.find("unknown field 'prority' for tickets (did you mean 'priority'?)"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("valid fields: priority, status,"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("custom.NAME"), std::string::npos);
  auto d = bad("priority == \"urgent\"", SourceKind::deals);
  EXPECT_NE(d.message.find("for deals"), std::string::npos);
}

TEST(Expr, NestingIsBoundedNotAStackOverflow) {
  // 64 levels are fine; deeper is refused with the column where it goes too deep (the fuzzer
  // found 300 nested parentheses overflowing the stack; tests/fuzz/corpus/expr/deep-parens).
  auto nested = [](int n, const std::string& open) {
    std::string text;
    for (int i = 0; i < n; ++i) text += open;
    text += "reopens > 1";
    if (open == "(") text += std::string(static_cast<std::size_t>(n), ')');
    return text;
  };
  EXPECT_TRUE(ok(nested(63, "(")));
  EXPECT_TRUE(ok(nested(63, "not ")));
  const auto parens = bad(nested(300, "("));
  EXPECT_EQ(parens.column, 65);  // inside the 64th parenthesis: the 65th level
  EXPECT_NE(parens.message.find("nests more than 64 levels deep"), std::string::npos) << parens.message;
  const auto nots = bad(nested(100, "not "));
  EXPECT_NE(nots.message.find("nests more than 64 levels deep"), std::string::npos) << nots.message;
}

TEST(Expr, ErrorsPointAtTheColumn) {
  struct Case {
    const char* text;
    int column;
    const char* message;
  };
  for (const auto& c : std::vector<Case>{
           {"first_reply <= 1x", 16, "not a duration"},
           {"priority = \"urgent\"", 10, "unknown operator '='"},
           {"priority == \"urgent", 13, "unterminated string"},
           {"first_reply <= \"1h\"", 13, "cannot compare a duration with a string"},
           {"priority < \"b\"", 10, "'<' needs numbers, durations or money, not a string"},
           {"priority", 1, "must be a condition"},
           {"reopens in tags", 1, "'in' tests a string, not a number"},
           {"priority in \"high\"", 13, "'in' needs a list"},
           {"(priority == \"a\"", 17, "expected ')'"},
           {"priority == \"a\" and", 20, "expected a field, a value or '('"},
           {"priority == \"a\" reopens", 17, "expected 'and', 'or' or the end"},
           {"reopens and solved", 1, "'and' needs conditions on both sides"},
           {"amount > EUR", 10, "must be followed by an amount"},
           {"amount > EUR 1.001", 14, "more decimals than EUR allows"},
           {"priority == $", 13, "unexpected character '$'"},
           {"[1, 2] == tags", 2, "a list holds strings"},
           {"custom. == 1", 1, "custom. needs a field name"},
           {"   ", 1, "empty expression"},
       }) {
    auto e = bad(c.text, std::string_view(c.text).find("amount") != std::string_view::npos ? SourceKind::deals
                                                                                           : SourceKind::tickets);
    EXPECT_EQ(e.column, c.column) << c.text << ": " << e.message;
    EXPECT_NE(e.message.find(c.message), std::string::npos) << c.text << ": " << e.message;
  }
}

TEST(Expr, Thresholds) {
  auto t = parse_threshold(">= 95%");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->op, CompareOp::ge);
  EXPECT_EQ(t->type, ValueType::number);
  EXPECT_EQ(literal_text(t->value), "95/100");
  EXPECT_TRUE(t->percent);
  EXPECT_FALSE(parse_threshold(">= 85")->percent);
  auto d = parse_threshold("<= 16h");
  EXPECT_EQ(d->type, ValueType::duration);
  EXPECT_EQ(literal_text(d->value), "16h");
  auto m = parse_threshold(">= EUR 150000.00");
  EXPECT_EQ(m->type, ValueType::money);
  EXPECT_EQ(literal_text(m->value), "EUR 150000.00");
  EXPECT_FALSE(parse_threshold("95%"));
  EXPECT_FALSE(parse_threshold(">= priority"));
  EXPECT_FALSE(parse_threshold(">= 95% and"));
  EXPECT_FALSE(parse_threshold(">= \"x\""));
}

TEST(Expr, FieldTables) {
  for (auto k : {SourceKind::tickets, SourceKind::deals, SourceKind::surveys, SourceKind::events}) {
    EXPECT_FALSE(fields_of(k).empty());
    EXPECT_EQ(*parse_source_kind(to_string(k)), k);
    for (const auto& f : fields_of(k)) {
      EXPECT_TRUE(find_field(f.name, k));
      EXPECT_FALSE(f.description.empty());
    }
  }
  EXPECT_FALSE(parse_source_kind("calls"));
}

}  // namespace
}  // namespace pactwatch::rules
