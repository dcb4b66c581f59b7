#include "pactwatch/rules/expr.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "pactwatch/core/diagnostic.h"

namespace pactwatch::rules {

namespace {

constexpr std::array<FieldInfo, 17> kTicketFields{{
    {"priority", ValueType::string, "low, normal, high, urgent"},
    {"status", ValueType::string, "new, open, pending, hold, solved, closed"},
    {"channel", ValueType::string, "email, web, chat, phone, api"},
    {"tags", ValueType::string_list, "tags on the ticket"},
    {"reopens", ValueType::number, "times the ticket was reopened"},
    {"replies", ValueType::number, "public agent replies"},
    {"first_reply", ValueType::duration, "timer: creation to first agent reply"},
    {"next_reply", ValueType::duration, "timer: longest wait for an agent reply after a customer comment"},
    {"resolution", ValueType::duration, "timer: creation to solved, paused as the contract says"},
    {"requester_wait", ValueType::duration, "timer: time in new, open and hold"},
    {"agent_work", ValueType::duration, "timer: time in new and open"},
    {"brand_ack", ValueType::duration, "timer: escalation to the brand's acknowledgement"},
    {"satisfaction", ValueType::string, "good, bad or offered"},
    {"solved", ValueType::boolean, "the ticket is solved or closed"},
    {"first_contact_resolution", ValueType::boolean, "solved with a single agent reply"},
    {"on_site", ValueType::duration, "timer: creation to technician on site (field service)"},
    {"fixed_first_visit", ValueType::boolean, "fixed on the first visit (field service)"},
}};

constexpr std::array<FieldInfo, 11> kDealFields{{
    {"amount", ValueType::money, "deal amount"},
    {"stage", ValueType::string, "pipeline stage"},
    {"won", ValueType::boolean, "closed won"},
    {"closed", ValueType::boolean, "closed won or lost"},
    {"refunded", ValueType::boolean, "refunded or cancelled after closing"},
    {"registered", ValueType::boolean, "registered by the partner"},
    {"approved", ValueType::boolean, "registration approved by the brand"},
    {"registration_approval", ValueType::duration, "timer: registration to the brand's approval"},
    {"time_to_close", ValueType::duration, "creation to close, elapsed"},
    {"type", ValueType::string, "new business, renewal, upsell"},
    {"tags", ValueType::string_list, "labels on the deal"},
}};

constexpr std::array<FieldInfo, 5> kSurveyFields{{
    {"score", ValueType::dynamic, "the answer: a number (1-5, 0-10) or a label (good, bad)"},
    {"type", ValueType::string, "csat, nps, ces, qa"},
    {"channel", ValueType::string, "channel of the surveyed interaction"},
    {"comment", ValueType::string, "free-text comment"},
    {"tags", ValueType::string_list, "labels on the response"},
}};

constexpr std::array<FieldInfo, 5> kEventFields{{
    {"name", ValueType::string, "event name, e.g. delivery, certification, call_answered"},
    {"value", ValueType::number, "numeric value"},
    {"amount", ValueType::money, "money value"},
    {"duration", ValueType::duration, "duration value, e.g. wait before answer"},
    {"late", ValueType::boolean, "the event missed its due time"},
}};

// --- lexer ---------------------------------------------------------------------------------

enum class Tok { end, ident, string, number, duration, percent, money, lparen, rparen, lbracket, rbracket, comma, op,
                 kw_and, kw_or, kw_not, kw_in, kw_true, kw_false };

struct Token {
  Tok kind = Tok::end;
  int column = 1;
  std::string text;  // identifier, string contents, operator, or the literal's source text
  Literal value{false};
};

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  std::expected<std::vector<Token>, ExprError> run() {
    std::vector<Token> out;
    while (true) {
      while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
      Token t;
      t.column = static_cast<int>(i_) + 1;
      if (i_ >= s_.size()) {
        out.push_back(t);
        return out;
      }
      const char c = s_[i_];
      if (c == '(' || c == ')' || c == '[' || c == ']' || c == ',') {
        t.kind = c == '(' ? Tok::lparen : c == ')' ? Tok::rparen : c == '[' ? Tok::lbracket : c == ']' ? Tok::rbracket : Tok::comma;
        t.text = std::string(1, c);
        ++i_;
      } else if (c == '=' || c == '!' || c == '<' || c == '>') {
        t.kind = Tok::op;
        if (i_ + 1 < s_.size() && s_[i_ + 1] == '=') {
          t.text = std::string(s_.substr(i_, 2));
          i_ += 2;
        } else {
          t.text = std::string(1, c);
          ++i_;
        }
        if (t.text == "=" || t.text == "!") {
          return std::unexpected(ExprError{t.column, "unknown operator '" + t.text + "' (comparisons are ==, !=, <, <=, >, >=)"});
        }
      } else if (c == '"' || c == '\'') {
        auto str = string_literal(c, t.column);
        if (!str) return std::unexpected(str.error());
        t.kind = Tok::string;
        t.text = *str;
        t.value = *str;
      } else if (std::isdigit(static_cast<unsigned char>(c)) || ((c == '-' || c == '.') && i_ + 1 < s_.size() &&
                                                                 std::isdigit(static_cast<unsigned char>(s_[i_ + 1])))) {
        auto r = number_like(t);
        if (!r) return std::unexpected(r.error());
      } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        std::size_t j = i_;
        while (j < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[j])) || s_[j] == '_' || s_[j] == '.')) ++j;
        t.text = std::string(s_.substr(i_, j - i_));
        i_ = j;
        if (t.text == "and") t.kind = Tok::kw_and;
        else if (t.text == "or") t.kind = Tok::kw_or;
        else if (t.text == "not") t.kind = Tok::kw_not;
        else if (t.text == "in") t.kind = Tok::kw_in;
        else if (t.text == "true") { t.kind = Tok::kw_true; t.value = true; }
        else if (t.text == "false") { t.kind = Tok::kw_false; t.value = false; }
        else if (t.text.size() == 3 && std::isupper(static_cast<unsigned char>(t.text[0])) &&
                 core::Currency::from_code(t.text)) {
          // Money: an ISO 4217 code followed by an amount, "EUR 100.00".
          auto money = money_amount(t);
          if (!money) return std::unexpected(money.error());
        } else {
          t.kind = Tok::ident;
        }
      } else {
        return std::unexpected(ExprError{t.column, "unexpected character '" + std::string(1, c) + "'"});
      }
      out.push_back(std::move(t));
    }
  }

 private:
  std::expected<std::string, ExprError> string_literal(char quote, int column) {
    std::string out;
    ++i_;
    while (i_ < s_.size() && s_[i_] != quote) {
      if (s_[i_] == '\\' && i_ + 1 < s_.size()) ++i_;
      out += s_[i_++];
    }
    if (i_ >= s_.size()) return std::unexpected(ExprError{column, "unterminated string"});
    ++i_;
    return out;
  }

  std::expected<void, ExprError> number_like(Token& t) {
    std::size_t j = i_;
    if (s_[j] == '-') ++j;
    while (j < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[j])) || s_[j] == '.' || s_[j] == '/')) ++j;
    if (j < s_.size() && s_[j] == '%') ++j;
    const std::string_view text = s_.substr(i_, j - i_);
    i_ = j;
    t.text = std::string(text);
    if (text.back() == '%') {
      auto r = core::Ratio::parse(text);
      if (!r) return std::unexpected(ExprError{t.column, "'" + t.text + "' is not a percentage"});
      t.kind = Tok::percent;
      t.value = *r;
      return {};
    }
    const bool has_unit = std::any_of(text.begin(), text.end(), [](char ch) { return std::isalpha(static_cast<unsigned char>(ch)); });
    if (has_unit) {
      auto d = core::parse_duration(text);
      if (!d) return std::unexpected(ExprError{t.column, d.error()});
      t.kind = Tok::duration;
      t.value = *d;
      return {};
    }
    auto r = core::Ratio::parse(text);
    if (!r || text.find('/') != std::string_view::npos) {
      return std::unexpected(ExprError{t.column, "'" + t.text + "' is not a number"});
    }
    t.kind = Tok::number;
    t.value = *r;
    return {};
  }

  std::expected<void, ExprError> money_amount(Token& t) {
    const auto currency = *core::Currency::from_code(t.text);
    std::size_t j = i_;
    while (j < s_.size() && s_[j] == ' ') ++j;
    std::size_t k = j;
    if (k < s_.size() && s_[k] == '-') ++k;
    while (k < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[k])) || s_[k] == '.')) ++k;
    if (k == j) return std::unexpected(ExprError{t.column, "'" + t.text + "' must be followed by an amount, e.g. " + t.text + " 100.00"});
    auto m = core::Money::parse(s_.substr(j, k - j), currency);
    if (!m) return std::unexpected(ExprError{static_cast<int>(j) + 1, m.error()});
    t.kind = Tok::money;
    t.value = *m;
    t.text = std::string(s_.substr(i_ - 3, k - (i_ - 3)));
    i_ = k;
    return {};
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

// --- parser --------------------------------------------------------------------------------

std::string_view describe(Tok k) {
  switch (k) {
    case Tok::end: return "the end";
    case Tok::ident: return "a field";
    case Tok::string: return "a string";
    case Tok::number: return "a number";
    case Tok::duration: return "a duration";
    case Tok::percent: return "a percentage";
    case Tok::money: return "an amount of money";
    case Tok::lparen: return "'('";
    case Tok::rparen: return "')'";
    case Tok::lbracket: return "'['";
    case Tok::rbracket: return "']'";
    case Tok::comma: return "','";
    case Tok::op: return "an operator";
    case Tok::kw_and: return "'and'";
    case Tok::kw_or: return "'or'";
    case Tok::kw_not: return "'not'";
    case Tok::kw_in: return "'in'";
    case Tok::kw_true:
    case Tok::kw_false: return "a boolean";
  }
  return "a token";
}

ValueType literal_type(const Literal& v) {
  switch (v.index()) {
    case 0: return ValueType::boolean;
    case 1: return ValueType::string;
    case 2: return ValueType::number;
    case 3: return ValueType::duration;
    case 4: return ValueType::money;
    default: return ValueType::string_list;
  }
}

bool comparable(ValueType a, ValueType b) {
  if (a == ValueType::dynamic) return b == ValueType::string || b == ValueType::number || b == ValueType::dynamic;
  if (b == ValueType::dynamic) return comparable(b, a);
  return a == b && a != ValueType::string_list;
}

bool ordered(ValueType t) {
  return t == ValueType::number || t == ValueType::duration || t == ValueType::money || t == ValueType::dynamic;
}

class Parser {
 public:
  Parser(std::vector<Token> toks, SourceKind kind) : t_(std::move(toks)), kind_(kind) {}

  std::expected<std::unique_ptr<Expr>, ExprError> parse() {
    auto e = or_expr();
    if (!e) return e;
    if (peek().kind != Tok::end) return fail("expected 'and', 'or' or the end, found " + std::string(describe(peek().kind)));
    if ((*e)->type != ValueType::boolean) {
      return std::unexpected(ExprError{(*e)->column, "the expression must be a condition (true or false), not a " +
                                                         std::string(to_string((*e)->type))});
    }
    return e;
  }

 private:
  using Result = std::expected<std::unique_ptr<Expr>, ExprError>;

  static constexpr int kMaxDepth = 64;
  int depth_ = 0;

  const Token& peek() const { return t_[p_]; }
  Token next() { return t_[p_ < t_.size() - 1 ? p_++ : p_]; }
  std::unexpected<ExprError> fail(std::string msg) const { return std::unexpected(ExprError{peek().column, std::move(msg)}); }

  static std::unique_ptr<Expr> node(Expr::Kind k, int column, ValueType type) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->column = column;
    e->type = type;
    return e;
  }

  Result need_bool(Result r, std::string_view op) {
    if (r && (*r)->type != ValueType::boolean) {
      return std::unexpected(ExprError{(*r)->column, "'" + std::string(op) + "' needs conditions on both sides, not a " +
                                                         std::string(to_string((*r)->type))});
    }
    return r;
  }

  Result or_expr() {
    auto left = and_expr();
    if (!left || peek().kind != Tok::kw_or) return left;
    left = need_bool(std::move(left), "or");
    if (!left) return left;
    auto e = node(Expr::Kind::any_of, (*left)->column, ValueType::boolean);
    e->args.push_back(std::move(*left));
    while (peek().kind == Tok::kw_or) {
      next();
      auto right = need_bool(and_expr(), "or");
      if (!right) return right;
      e->args.push_back(std::move(*right));
    }
    return e;
  }

  Result and_expr() {
    auto left = not_expr();
    if (!left || peek().kind != Tok::kw_and) return left;
    left = need_bool(std::move(left), "and");
    if (!left) return left;
    auto e = node(Expr::Kind::all_of, (*left)->column, ValueType::boolean);
    e->args.push_back(std::move(*left));
    while (peek().kind == Tok::kw_and) {
      next();
      auto right = need_bool(not_expr(), "and");
      if (!right) return right;
      e->args.push_back(std::move(*right));
    }
    return e;
  }

  // Every nesting (a parenthesis, a 'not') passes here: the depth is bounded, so a hostile or
  // broken rule file gets an error, not a stack overflow.
  Result not_expr() {
    if (depth_ >= kMaxDepth) {
      return fail("the condition nests more than " + std::to_string(kMaxDepth) + " levels deep (parentheses and 'not')");
    }
    ++depth_;
    struct Leave {
      int& depth;
      ~Leave() { --depth; }
    } leave{depth_};
    if (peek().kind == Tok::kw_not) {
      const int column = next().column;
      auto inner = need_bool(not_expr(), "not");
      if (!inner) return inner;
      auto e = node(Expr::Kind::negate, column, ValueType::boolean);
      e->args.push_back(std::move(*inner));
      return e;
    }
    return comparison();
  }

  Result comparison() {
    auto left = operand();
    if (!left) return left;
    if (peek().kind == Tok::op) {
      const Token op = next();
      auto right = operand();
      if (!right) return right;
      const ValueType a = (*left)->type, b = (*right)->type;
      if (!comparable(a, b)) {
        return std::unexpected(ExprError{op.column, "cannot compare a " + std::string(to_string(a)) + " with a " +
                                                        std::string(to_string(b))});
      }
      CompareOp cop = CompareOp::eq;
      if (op.text == "==") cop = CompareOp::eq;
      else if (op.text == "!=") cop = CompareOp::ne;
      else if (op.text == "<") cop = CompareOp::lt;
      else if (op.text == "<=") cop = CompareOp::le;
      else if (op.text == ">") cop = CompareOp::gt;
      else cop = CompareOp::ge;
      if (cop != CompareOp::eq && cop != CompareOp::ne && !ordered(a)) {
        return std::unexpected(ExprError{op.column, "'" + op.text + "' needs numbers, durations or money, not a " +
                                                        std::string(to_string(a))});
      }
      auto e = node(Expr::Kind::compare, op.column, ValueType::boolean);
      e->op = cop;
      e->args.push_back(std::move(*left));
      e->args.push_back(std::move(*right));
      return e;
    }
    bool negated = false;
    if (peek().kind == Tok::kw_not && p_ + 1 < t_.size() && t_[p_ + 1].kind == Tok::kw_in) {
      next();
      negated = true;
    }
    if (peek().kind == Tok::kw_in) {
      const Token in = next();
      auto right = operand();
      if (!right) return right;
      const ValueType a = (*left)->type, b = (*right)->type;
      if (b != ValueType::string_list) {
        return std::unexpected(ExprError{(*right)->column, "'in' needs a list on its right, such as tags or [\"a\", \"b\"]"});
      }
      if (a != ValueType::string && a != ValueType::dynamic) {
        return std::unexpected(ExprError{(*left)->column, "'in' tests a string, not a " + std::string(to_string(a))});
      }
      auto e = node(negated ? Expr::Kind::not_in : Expr::Kind::in, in.column, ValueType::boolean);
      e->args.push_back(std::move(*left));
      e->args.push_back(std::move(*right));
      return e;
    }
    return left;
  }

  Result operand() {
    const Token& tok = peek();
    switch (tok.kind) {
      case Tok::lparen: {
        next();
        auto inner = or_expr();
        if (!inner) return inner;
        if (peek().kind != Tok::rparen) return fail("expected ')', found " + std::string(describe(peek().kind)));
        next();
        return inner;
      }
      case Tok::lbracket: {
        const int column = next().column;
        std::vector<std::string> items;
        while (peek().kind != Tok::rbracket) {
          if (peek().kind != Tok::string) return fail("a list holds strings, found " + std::string(describe(peek().kind)));
          items.push_back(next().text);
          if (peek().kind == Tok::comma) {
            next();
          } else if (peek().kind != Tok::rbracket) {
            return fail("expected ',' or ']' in the list, found " + std::string(describe(peek().kind)));
          }
        }
        next();
        auto e = node(Expr::Kind::literal, column, ValueType::string_list);
        e->value = std::move(items);
        return e;
      }
      case Tok::string:
      case Tok::number:
      case Tok::duration:
      case Tok::percent:
      case Tok::money:
      case Tok::kw_true:
      case Tok::kw_false: {
        Token t = next();
        auto e = node(Expr::Kind::literal, t.column, literal_type(t.value));
        e->value = std::move(t.value);
        return e;
      }
      case Tok::ident: {
        Token t = next();
        ValueType type = ValueType::dynamic;
        if (t.text.rfind("custom.", 0) == 0) {
          if (t.text.size() == 7) return std::unexpected(ExprError{t.column, "custom. needs a field name, e.g. custom.region"});
        } else {
          auto f = find_field(t.text, kind_);
          if (!f) return std::unexpected(ExprError{t.column, f.error()});
          type = f->type;
        }
        auto e = node(Expr::Kind::field, t.column, type);
        e->field = t.text;
        return e;
      }
      default:
        return fail("expected a field, a value or '(', found " + std::string(describe(tok.kind)));
    }
  }

  std::vector<Token> t_;
  std::size_t p_ = 0;
  SourceKind kind_;
};

}  // namespace

std::string_view to_string(SourceKind k) {
  switch (k) {
    case SourceKind::tickets: return "tickets";
    case SourceKind::deals: return "deals";
    case SourceKind::surveys: return "surveys";
    case SourceKind::events: return "events";
  }
  return "tickets";
}

std::expected<SourceKind, std::string> parse_source_kind(std::string_view s) {
  for (auto k : {SourceKind::tickets, SourceKind::deals, SourceKind::surveys, SourceKind::events}) {
    if (s == to_string(k)) return k;
  }
  return std::unexpected("unknown source '" + std::string(s) + "' (expected tickets, deals, surveys or events)");
}

std::string_view to_string(ValueType t) {
  switch (t) {
    case ValueType::boolean: return "condition";
    case ValueType::string: return "string";
    case ValueType::number: return "number";
    case ValueType::duration: return "duration";
    case ValueType::money: return "money amount";
    case ValueType::string_list: return "list";
    case ValueType::dynamic: return "custom field";
  }
  return "value";
}

std::string_view to_string(CompareOp op) {
  switch (op) {
    case CompareOp::eq: return "==";
    case CompareOp::ne: return "!=";
    case CompareOp::lt: return "<";
    case CompareOp::le: return "<=";
    case CompareOp::gt: return ">";
    case CompareOp::ge: return ">=";
  }
  return "==";
}

std::span<const FieldInfo> fields_of(SourceKind kind) {
  switch (kind) {
    case SourceKind::tickets: return kTicketFields;
    case SourceKind::deals: return kDealFields;
    case SourceKind::surveys: return kSurveyFields;
    case SourceKind::events: return kEventFields;
  }
  return kTicketFields;
}

std::expected<FieldInfo, std::string> find_field(std::string_view name, SourceKind kind) {
  const auto fields = fields_of(kind);
  std::vector<std::string_view> names;
  for (const auto& f : fields) {
    if (f.name == name) return f;
    names.push_back(f.name);
  }
  std::string msg = "unknown field '" + std::string(name) + "' for " + std::string(to_string(kind));
  if (auto hint = core::did_you_mean(name, names); !hint.empty()) msg += " (" + hint + ")";
  msg += "; valid fields: ";
  for (std::size_t i = 0; i < names.size(); ++i) msg += (i ? ", " : "") + std::string(names[i]);
  msg += ", custom.NAME";
  return std::unexpected(msg);
}

std::expected<std::unique_ptr<Expr>, ExprError> parse_condition(std::string_view text, SourceKind kind) {
  if (text.find_first_not_of(" \t") == std::string_view::npos) return std::unexpected(ExprError{1, "empty expression"});
  auto toks = Lexer(text).run();
  if (!toks) return std::unexpected(toks.error());
  return Parser(std::move(*toks), kind).parse();
}

std::expected<Threshold, ExprError> parse_threshold(std::string_view text) {
  auto toks = Lexer(text).run();
  if (!toks) return std::unexpected(toks.error());
  const auto& t = *toks;
  if (t.size() != 3 || t[0].kind != Tok::op) {
    return std::unexpected(ExprError{1, "expected a comparison with a value, such as \">= 95%\" or \"<= 16h\""});
  }
  const auto k = t[1].kind;
  if (k != Tok::number && k != Tok::percent && k != Tok::duration && k != Tok::money) {
    return std::unexpected(ExprError{t[1].column, "expected a number, percentage, duration or amount after '" + t[0].text + "'"});
  }
  Threshold th;
  const std::string& op = t[0].text;
  th.op = op == "==" ? CompareOp::eq : op == "!=" ? CompareOp::ne : op == "<" ? CompareOp::lt : op == "<=" ? CompareOp::le
        : op == ">" ? CompareOp::gt : CompareOp::ge;
  th.value = t[1].value;
  th.type = literal_type(th.value);
  th.percent = k == Tok::percent;
  return th;
}

std::string literal_text(const Literal& v) {
  struct Visitor {
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(const std::string& s) const { return "\"" + s + "\""; }
    std::string operator()(const core::Ratio& r) const {
      return r.denominator == 1 ? std::to_string(r.numerator) : std::to_string(r.numerator) + "/" + std::to_string(r.denominator);
    }
    std::string operator()(const core::Duration& d) const { return core::format_duration(d); }
    std::string operator()(const core::Money& m) const { return std::string(m.currency().code()) + " " + m.to_decimal(); }
    std::string operator()(const std::vector<std::string>& l) const {
      std::string out = "[";
      for (std::size_t i = 0; i < l.size(); ++i) out += (i ? ", \"" : "\"") + l[i] + "\"";
      return out + "]";
    }
  };
  return std::visit(Visitor{}, v);
}

}  // namespace pactwatch::rules
