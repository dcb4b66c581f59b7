// A strict YAML syntax check that runs before yaml-cpp reads a file (parse_yaml).
//
// yaml-cpp forgives some malformed documents and reads something else than was written: a quoted
// scalar left open swallows every later line ("sqlite:///q.db rules_dir: /x"), a second document
// or the content after a block sequence is dropped, a duplicate anchor silently rebinds. This
// check judges a document as the common YAML 1.1 readers do (PyYAML's safe loader is the
// reference the tests compare with, over fixtures and mutations): a scanner that tokenizes with
// the same simple-key and indentation rules, a parser over the same grammar, and the checks of
// composing plain data (one document, anchors defined once and before use, mapping keys that are
// scalars). It reports the first problem with its position and builds nothing; yaml-cpp still
// builds the nodes. Implicit YAML 1.1 types (a plain 2026-02-30 is an impossible date to PyYAML)
// are left to pactwatch's schema, which reports them with the file's other problems.
//
// Stricter than PyYAML on purpose: tags (!!str, !custom) and merge keys (<<) are refused, since
// yaml-cpp would read them differently and pactwatch's files need neither.
// Over 800 lines on purpose: its scanner and parser share one position and error report; split, they would share them through a header for no reader's gain.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pactwatch/config/yaml_check.h"

namespace pactwatch::config {

namespace {

struct Mark {
  std::size_t index = 0;
  int line = 0;    // 0-based
  int column = 0;  // 0-based, in characters
};

struct Failure {
  Mark mark;
  std::string message;
};

enum class Tok {
  stream_start,
  stream_end,
  directive,
  document_start,
  document_end,
  block_sequence_start,
  block_mapping_start,
  block_end,
  flow_sequence_start,
  flow_mapping_start,
  flow_sequence_end,
  flow_mapping_end,
  block_entry,
  flow_entry,
  key,
  value,
  alias,
  anchor,
  scalar,
};

const char* describe(Tok t) {
  switch (t) {
    case Tok::stream_start: return "the start of the file";
    case Tok::stream_end: return "the end of the file";
    case Tok::directive: return "a directive";
    case Tok::document_start: return "'---'";
    case Tok::document_end: return "'...'";
    case Tok::block_sequence_start: return "a list at an indentation of its own";
    case Tok::block_mapping_start: return "a key at an indentation of its own";
    case Tok::block_end: return "the end of a block";
    case Tok::flow_sequence_start: return "'['";
    case Tok::flow_mapping_start: return "'{'";
    case Tok::flow_sequence_end: return "']'";
    case Tok::flow_mapping_end: return "'}'";
    case Tok::block_entry: return "a list entry ('-')";
    case Tok::flow_entry: return "','";
    case Tok::key: return "a key";
    case Tok::value: return "':'";
    case Tok::alias: return "an alias";
    case Tok::anchor: return "an anchor";
    case Tok::scalar: return "a value";
  }
  return "something";
}

struct Token {
  Tok kind;
  Mark start;
  Mark end;
  std::string value;  // alias and anchor names, scalar text (plain ones), directive names
  bool plain = false;
  int major = 1;            // %YAML directive
  std::string handle;       // %TAG directive
};

bool in(char32_t c, std::u32string_view set) { return set.find(c) != std::u32string_view::npos; }

constexpr std::u32string_view kBreaks = U"\r\n\x85\u2028\u2029";
// End of input, space, tab and line breaks: what may follow an indicator.
bool blank_or_end(char32_t c) { return c == 0 || c == U' ' || c == U'\t' || in(c, kBreaks); }
bool break_or_end(char32_t c) { return c == 0 || in(c, kBreaks); }

std::string utf8(std::u32string_view s) {
  std::string out;
  for (char32_t c : s) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (c < 0x800) {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      out += static_cast<char>(0xE0 | (c >> 12));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (c >> 18));
      out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

std::string shown(char32_t c) {
  if (c == 0) return "the end of the file";
  if (c == U'\t') return "a tab";
  if (c == U'\n' || c == U'\r') return "a line break";
  if (c == U' ') return "a space";
  return "'" + utf8(std::u32string(1, c)) + "'";
}

// Decodes UTF-8 strictly (no overlong forms, no surrogates) and refuses the characters YAML does
// not allow in a document; positions count characters.
std::u32string decode(std::string_view text) {
  std::u32string out;
  out.reserve(text.size() + 1);
  Mark at;
  auto fail = [&](const std::string& why) { throw Failure{at, why}; };
  for (std::size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    char32_t c = 0;
    std::size_t n = 0;
    if (b < 0x80) {
      c = b;
      n = 1;
    } else if ((b & 0xE0) == 0xC0) {
      c = b & 0x1F;
      n = 2;
    } else if ((b & 0xF0) == 0xE0) {
      c = b & 0x0F;
      n = 3;
    } else if ((b & 0xF8) == 0xF0) {
      c = b & 0x07;
      n = 4;
    } else {
      fail("the file is not valid UTF-8");
    }
    if (i + n > text.size()) fail("the file is not valid UTF-8 (it ends inside a character)");
    for (std::size_t k = 1; k < n; ++k) {
      const auto cb = static_cast<unsigned char>(text[i + k]);
      if ((cb & 0xC0) != 0x80) fail("the file is not valid UTF-8");
      c = (c << 6) | (cb & 0x3F);
    }
    if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
        (c >= 0xD800 && c <= 0xDFFF)) {
      fail("the file is not valid UTF-8");
    }
    const bool printable = c == 0x09 || c == 0x0A || c == 0x0D || (c >= 0x20 && c <= 0x7E) || c == 0x85 ||
                           (c >= 0xA0 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
    if (!printable) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "#x%04x", static_cast<unsigned>(c));
      fail(std::string("the control character ") + buf + " is not allowed in a YAML file");
    }
    out += c;
    // Positions as the scanner counts them (only for the messages above).
    if (c == U'\n' || c == 0x85 || c == 0x2028 || c == 0x2029 || (c == U'\r' && (i + 1 >= text.size() || text[i + 1] != '\n'))) {
      ++at.line;
      at.column = 0;
    } else if (c != 0xFEFF) {
      ++at.column;
    }
    ++at.index;
    i += n;
  }
  out += char32_t(0);  // the end, as the scanner sees it
  return out;
}

class Scanner {
 public:
  explicit Scanner(std::u32string text) : text_(std::move(text)) { push(Tok::stream_start, mark(), mark()); }

  bool check(std::initializer_list<Tok> kinds) {
    more();
    return !tokens_.empty() && std::find(kinds.begin(), kinds.end(), tokens_.front().kind) != kinds.end();
  }
  const Token& peek() {
    more();
    return tokens_.front();
  }
  Token get() {
    more();
    Token t = std::move(tokens_.front());
    tokens_.pop_front();
    ++taken_;
    return t;
  }

 private:
  struct SimpleKey {
    std::size_t token_number;
    bool required;
    Mark mark;
  };

  // ---- reading ----
  char32_t at(std::size_t k = 0) const {
    const std::size_t i = mark_.index + k;
    return i < text_.size() ? text_[i] : char32_t(0);
  }
  Mark mark() const { return mark_; }
  void forward(std::size_t n = 1) {
    while (n-- > 0 && mark_.index + 1 < text_.size()) {
      const char32_t c = text_[mark_.index++];
      if (c == U'\n' || c == 0x85 || c == 0x2028 || c == 0x2029 || (c == U'\r' && text_[mark_.index] != U'\n')) {
        ++mark_.line;
        mark_.column = 0;
      } else if (c != 0xFEFF) {
        ++mark_.column;
      }
    }
  }
  [[noreturn]] void fail(const Mark& m, std::string message) const { throw Failure{m, std::move(message)}; }
  bool line_break() {
    const char32_t c = at();
    if (c == U'\r' || c == U'\n' || c == 0x85) {
      forward(c == U'\r' && at(1) == U'\n' ? 2 : 1);
      return true;
    }
    if (c == 0x2028 || c == 0x2029) {
      forward();
      return true;
    }
    return false;
  }
  bool document_marker(char32_t c) const {
    return mark_.column == 0 && at() == c && at(1) == c && at(2) == c && blank_or_end(at(3));
  }
  bool separator_at_line_start() const {
    return ((at() == U'-' && at(1) == U'-' && at(2) == U'-') || (at() == U'.' && at(1) == U'.' && at(2) == U'.')) &&
           blank_or_end(at(3));
  }

  // ---- the token queue ----
  void push(Tok kind, Mark start, Mark end, std::string value = {}, bool plain = false) {
    tokens_.push_back(Token{kind, start, end, std::move(value), plain, 1, {}});
  }
  void more() {
    while (need_more()) fetch();
  }
  bool need_more() {
    if (done_) return false;
    if (tokens_.empty()) return true;
    stale_keys();
    return next_key_number() == taken_;
  }
  std::optional<std::size_t> next_key_number() const {
    std::optional<std::size_t> n;
    for (const auto& [level, k] : keys_) {
      if (!n || k.token_number < *n) n = k.token_number;
    }
    return n;
  }

  void fetch() {
    to_next_token();
    stale_keys();
    unwind(mark_.column);
    const char32_t c = at();
    if (c == 0) return stream_end();
    if (c == U'%' && mark_.column == 0) return directive();
    if (c == U'-' && document_marker(U'-')) return document_indicator(Tok::document_start);
    if (c == U'.' && document_marker(U'.')) return document_indicator(Tok::document_end);
    if (c == U'[') return flow_start(Tok::flow_sequence_start);
    if (c == U'{') return flow_start(Tok::flow_mapping_start);
    if (c == U']') return flow_end(Tok::flow_sequence_end);
    if (c == U'}') return flow_end(Tok::flow_mapping_end);
    if (c == U',') return flow_entry();
    if (c == U'-' && blank_or_end(at(1))) return block_entry();
    if (c == U'?' && (flow_level_ != 0 || blank_or_end(at(1)))) return key();
    if (c == U':' && (flow_level_ != 0 || blank_or_end(at(1)))) return value();
    if (c == U'*') return anchor_or_alias(Tok::alias);
    if (c == U'&') return anchor_or_alias(Tok::anchor);
    if (c == U'!') {
      fail(mark_, "tags (!...) are not used in pactwatch files; quote the value if the '!' is part of it");
    }
    if ((c == U'|' || c == U'>') && flow_level_ == 0) return block_scalar(c == U'>');
    if (c == U'\'' || c == U'"') return quoted(c == U'"');
    if (plain_start()) return plain();
    if (c == U'\t') {
      fail(mark_, "a tab cannot start a token: YAML indents and separates with spaces only");
    }
    fail(mark_, "found " + shown(c) + ", which cannot start any token" +
                    (c == U'@' || c == U'`' ? std::string(" (it is reserved; quote the value)") : std::string()));
  }

  bool plain_start() const {
    const char32_t c = at();
    if (!blank_or_end(c) && !in(c, U"-?:,[]{}#&*!|>'\"%@`")) return true;
    return !blank_or_end(at(1)) && (c == U'-' || (flow_level_ == 0 && (c == U'?' || c == U':')));
  }

  void to_next_token() {
    if (mark_.index == 0 && at() == 0xFEFF) forward();
    for (;;) {
      while (at() == U' ') forward();
      if (at() == U'#') {
        while (!break_or_end(at())) forward();
      }
      if (!line_break()) return;
      if (flow_level_ == 0) allow_simple_key_ = true;
    }
  }

  void stale_keys() {
    for (auto it = keys_.begin(); it != keys_.end();) {
      const SimpleKey& k = it->second;
      if (k.mark.line != mark_.line || mark_.index - k.mark.index > 1024) {
        if (k.required) {
          fail(k.mark, "this key has no ':' on its line (a key and its ':' must be on one line, within 1024 characters)");
        }
        it = keys_.erase(it);
      } else {
        ++it;
      }
    }
  }
  void save_key() {
    const bool required = flow_level_ == 0 && indent_ == mark_.column;
    if (!allow_simple_key_) return;
    remove_key();
    keys_[flow_level_] = SimpleKey{taken_ + tokens_.size(), required, mark_};
  }
  void remove_key() {
    const auto it = keys_.find(flow_level_);
    if (it == keys_.end()) return;
    if (it->second.required) fail(it->second.mark, "this key has no ':' after it");
    keys_.erase(it);
  }

  void unwind(int column) {
    if (flow_level_ != 0) return;
    while (indent_ > column) {
      indent_ = indents_.back();
      indents_.pop_back();
      push(Tok::block_end, mark_, mark_);
    }
  }
  bool add_indent(int column) {
    if (indent_ >= column) return false;
    indents_.push_back(indent_);
    indent_ = column;
    return true;
  }

  void stream_end() {
    unwind(-1);
    remove_key();
    allow_simple_key_ = false;
    keys_.clear();
    push(Tok::stream_end, mark_, mark_);
    done_ = true;
  }

  void document_indicator(Tok kind) {
    unwind(-1);
    remove_key();
    allow_simple_key_ = false;
    const Mark start = mark_;
    forward(3);
    push(kind, start, mark_);
  }

  void flow_start(Tok kind) {
    save_key();
    ++flow_level_;
    allow_simple_key_ = true;
    const Mark start = mark_;
    forward();
    push(kind, start, mark_);
  }
  void flow_end(Tok kind) {
    remove_key();
    --flow_level_;
    allow_simple_key_ = false;
    const Mark start = mark_;
    forward();
    push(kind, start, mark_);
  }
  void flow_entry() {
    allow_simple_key_ = true;
    remove_key();
    const Mark start = mark_;
    forward();
    push(Tok::flow_entry, start, mark_);
  }
  void block_entry() {
    if (flow_level_ == 0) {
      if (!allow_simple_key_) fail(mark_, "a list entry ('- ') cannot start here; start it on a line of its own");
      if (add_indent(mark_.column)) push(Tok::block_sequence_start, mark_, mark_);
    }
    allow_simple_key_ = true;
    remove_key();
    const Mark start = mark_;
    forward();
    push(Tok::block_entry, start, mark_);
  }
  void key() {
    if (flow_level_ == 0) {
      if (!allow_simple_key_) fail(mark_, "a complex key ('? ') cannot start here");
      if (add_indent(mark_.column)) push(Tok::block_mapping_start, mark_, mark_);
    }
    allow_simple_key_ = flow_level_ == 0;
    remove_key();
    const Mark start = mark_;
    forward();
    push(Tok::key, start, mark_);
  }
  void value() {
    if (const auto it = keys_.find(flow_level_); it != keys_.end()) {
      const SimpleKey k = it->second;
      keys_.erase(it);
      const auto at_key = tokens_.begin() + static_cast<std::ptrdiff_t>(k.token_number - taken_);
      const auto inserted = tokens_.insert(at_key, Token{Tok::key, k.mark, k.mark, {}, false, 1, {}});
      if (flow_level_ == 0 && add_indent(k.mark.column)) {
        tokens_.insert(inserted, Token{Tok::block_mapping_start, k.mark, k.mark, {}, false, 1, {}});
      }
      allow_simple_key_ = false;
    } else {
      if (flow_level_ == 0) {
        if (!allow_simple_key_) {
          fail(mark_, "a ':' here would start a mapping inside a value (quote the value if the ':' is part of it, or "
                      "put the key on a line of its own)");
        }
        if (add_indent(mark_.column)) push(Tok::block_mapping_start, mark_, mark_);
      }
      allow_simple_key_ = flow_level_ == 0;
      remove_key();
    }
    const Mark start = mark_;
    forward();
    push(Tok::value, start, mark_);
  }

  void anchor_or_alias(Tok kind) {
    save_key();
    allow_simple_key_ = false;
    const Mark start = mark_;
    const char* what = kind == Tok::alias ? "an alias" : "an anchor";
    forward();
    std::size_t n = 0;
    auto word = [](char32_t c) {
      return (c >= U'0' && c <= U'9') || (c >= U'A' && c <= U'Z') || (c >= U'a' && c <= U'z') || c == U'-' || c == U'_';
    };
    while (word(at(n))) ++n;
    if (n == 0) fail(start, std::string(what) + " needs a name of letters, digits, '-' and '_'");
    const std::u32string name = text_.substr(mark_.index, n);
    forward(n);
    if (!blank_or_end(at()) && !in(at(), U"?:,]}%@`")) {
      fail(start, std::string(what) + " needs a name of letters, digits, '-' and '_', found " + shown(at()) + " in it");
    }
    push(kind, start, mark_, utf8(name));
  }

  // ---- directives ----
  void directive() {
    unwind(-1);
    remove_key();
    allow_simple_key_ = false;
    const Mark start = mark_;
    forward();
    std::size_t n = 0;
    auto name_char = [](char32_t c) {
      return (c >= U'0' && c <= U'9') || (c >= U'A' && c <= U'Z') || (c >= U'a' && c <= U'z') || c == U'-' || c == U'_';
    };
    while (name_char(at(n))) ++n;
    if (n == 0) fail(mark_, "a directive needs a name after '%'");
    const std::string name = utf8(text_.substr(mark_.index, n));
    forward(n);
    if (!(at() == 0 || at() == U' ' || in(at(), kBreaks))) fail(mark_, "a directive's name ends with a space or the line");
    Token t{Tok::directive, start, start, name, false, 1, {}};
    if (name == "YAML") {
      while (at() == U' ') forward();
      t.major = directive_number();
      if (at() != U'.') fail(mark_, "%YAML needs a version such as 1.1");
      forward();
      (void)directive_number();
      if (!(at() == 0 || at() == U' ' || in(at(), kBreaks))) fail(mark_, "%YAML needs a version such as 1.1");
    } else if (name == "TAG") {
      while (at() == U' ') forward();
      t.handle = tag_handle();
      if (at() != U' ') fail(mark_, "%TAG needs a space after its handle");
      while (at() == U' ') forward();
      tag_uri();
      if (!(at() == 0 || at() == U' ' || in(at(), kBreaks))) fail(mark_, "%TAG needs a space or the end of the line after its prefix");
    } else {
      while (!break_or_end(at())) forward();
    }
    while (at() == U' ') forward();
    if (at() == U'#') {
      while (!break_or_end(at())) forward();
    }
    if (!break_or_end(at())) fail(mark_, "expected a comment or the end of the line after the directive, found " + shown(at()));
    line_break();
    t.end = mark_;
    tokens_.push_back(std::move(t));
  }
  int directive_number() {
    if (!(at() >= U'0' && at() <= U'9')) fail(mark_, "expected a digit in the %YAML version, found " + shown(at()));
    int value = 0;
    while (at() >= U'0' && at() <= U'9') {
      value = std::min(value * 10 + static_cast<int>(at() - U'0'), 1000000);
      forward();
    }
    return value;
  }
  std::string tag_handle() {
    if (at() != U'!') fail(mark_, "a tag handle starts with '!', found " + shown(at()));
    std::size_t n = 1;
    if (at(1) != U' ') {
      auto word = [](char32_t c) {
        return (c >= U'0' && c <= U'9') || (c >= U'A' && c <= U'Z') || (c >= U'a' && c <= U'z') || c == U'-' || c == U'_';
      };
      while (word(at(n))) ++n;
      if (at(n) != U'!') fail(mark_, "a tag handle ends with '!'");
      ++n;
    }
    const std::string handle = utf8(text_.substr(mark_.index, n));
    forward(n);
    return handle;
  }
  void tag_uri() {
    std::size_t n = 0;
    auto uri = [](char32_t c) {
      return (c >= U'0' && c <= U'9') || (c >= U'A' && c <= U'Z') || (c >= U'a' && c <= U'z') ||
             in(c, U"-;/?:@&=+$,_.!~*'()[]%");
    };
    while (uri(at(n))) {
      if (at(n) == U'%') {
        auto hex = [](char32_t c) { return (c >= U'0' && c <= U'9') || (c >= U'A' && c <= U'F') || (c >= U'a' && c <= U'f'); };
        if (!hex(at(n + 1)) || !hex(at(n + 2))) fail(mark_, "a '%' in a tag needs two hexadecimal digits");
        n += 3;
      } else {
        ++n;
      }
    }
    if (n == 0) fail(mark_, "a tag prefix is missing");
    forward(n);
  }

  // ---- scalars ----
  void block_scalar(bool folded) {
    allow_simple_key_ = true;
    remove_key();
    const Mark start = mark_;
    forward();
    std::optional<int> increment;
    auto digit = [](char32_t c) { return c >= U'0' && c <= U'9'; };
    if (at() == U'+' || at() == U'-') {
      forward();
      if (digit(at())) {
        if (at() == U'0') fail(mark_, "a block scalar's indentation indicator is 1 to 9, not 0");
        increment = static_cast<int>(at() - U'0');
        forward();
      }
    } else if (digit(at())) {
      if (at() == U'0') fail(mark_, "a block scalar's indentation indicator is 1 to 9, not 0");
      increment = static_cast<int>(at() - U'0');
      forward();
      if (at() == U'+' || at() == U'-') forward();
    }
    if (!(at() == 0 || at() == U' ' || in(at(), kBreaks))) {
      fail(mark_, std::string("after '") + (folded ? ">" : "|") + "' only '+', '-', an indentation digit and a comment may follow, found " +
                      shown(at()));
    }
    while (at() == U' ') forward();
    if (at() == U'#') {
      while (!break_or_end(at())) forward();
    }
    if (!break_or_end(at())) fail(mark_, "expected a comment or the end of the line, found " + shown(at()));
    line_break();
    const int min_indent = std::max(indent_ + 1, 1);
    int indent = 0;
    if (!increment) {
      int max_indent = 0;
      while (at() == U' ' || in(at(), kBreaks)) {
        if (at() != U' ') {
          line_break();
        } else {
          forward();
          max_indent = std::max(max_indent, mark_.column);
        }
      }
      indent = std::max(min_indent, max_indent);
    } else {
      indent = min_indent + *increment - 1;
      block_breaks(indent);
    }
    while (mark_.column == indent && at() != 0) {
      while (!break_or_end(at())) forward();
      line_break();
      block_breaks(indent);
    }
    push(Tok::scalar, start, mark_);
  }
  void block_breaks(int indent) {
    while (mark_.column < indent && at() == U' ') forward();
    while (in(at(), kBreaks)) {
      line_break();
      while (mark_.column < indent && at() == U' ') forward();
    }
  }

  void quoted(bool double_quoted) {
    save_key();
    allow_simple_key_ = false;
    const Mark start = mark_;
    const char32_t quote = at();
    const char* name = double_quoted ? "double-quoted" : "single-quoted";
    forward();
    for (;;) {
      // Non-space runs and escapes.
      for (;;) {
        while (!(in(at(), U"'\"\\ \t") || break_or_end(at()))) forward();
        const char32_t c = at();
        if (!double_quoted && c == U'\'' && at(1) == U'\'') {
          forward(2);
        } else if ((double_quoted && c == U'\'') || (!double_quoted && (c == U'"' || c == U'\\'))) {
          forward();
        } else if (double_quoted && c == U'\\') {
          const Mark escape = mark_;
          forward();
          const char32_t e = at();
          if (in(e, U"0abt\tnvfre \"\\/N_LP")) {
            forward();
          } else if (e == U'x' || e == U'u' || e == U'U') {
            const std::size_t n = e == U'x' ? 2 : e == U'u' ? 4 : 8;
            forward();
            std::uint32_t code = 0;
            for (std::size_t k = 0; k < n; ++k) {
              const char32_t h = at(k);
              const bool hex = (h >= U'0' && h <= U'9') || (h >= U'A' && h <= U'F') || (h >= U'a' && h <= U'f');
              if (!hex) fail(escape, "the escape \\" + utf8(std::u32string(1, e)) + " needs " + std::to_string(n) + " hexadecimal digits");
              code = code * 16 + static_cast<std::uint32_t>(h <= U'9' ? h - U'0' : (h | 0x20) - U'a' + 10);
            }
            if (code > 0x10FFFF) fail(escape, "the escape names no character (above U+10FFFF)");
            forward(n);
          } else if (in(e, kBreaks)) {
            line_break();
            quoted_breaks(start, name);
          } else {
            fail(escape, "unknown escape \\" + utf8(std::u32string(1, e)) + " in a double-quoted value (write \\\\ for a backslash)");
          }
        } else {
          break;
        }
      }
      if (at() == quote) break;
      // Spaces and line breaks.
      while (at() == U' ' || at() == U'\t') forward();
      if (at() == 0) {
        fail(start, std::string("the ") + name + " value that starts here is never closed: the file ends inside it (a missing " +
                        (double_quoted ? "\"" : "'") + ")");
      }
      if (in(at(), kBreaks)) {
        line_break();
        quoted_breaks(start, name);
      }
    }
    forward();
    push(Tok::scalar, start, mark_);
  }
  void quoted_breaks(const Mark& start, const char* name) {
    for (;;) {
      if (separator_at_line_start()) {
        fail(start, std::string("the ") + name + " value that starts here is not closed before the document marker on line " +
                        std::to_string(mark_.line + 1));
      }
      while (at() == U' ' || at() == U'\t') forward();
      if (in(at(), kBreaks)) line_break();
      else return;
    }
  }

  void plain() {
    save_key();
    allow_simple_key_ = false;
    const Mark start = mark_;
    Mark end = start;
    const int indent = indent_ + 1;
    std::u32string text;
    std::u32string spaces;
    bool have_spaces = false;
    for (;;) {
      if (at() == U'#') break;
      std::size_t n = 0;
      for (;;) {
        const char32_t c = at(n);
        if (blank_or_end(c) || (c == U':' && (blank_or_end(at(n + 1)) || (flow_level_ != 0 && in(at(n + 1), U",[]{}")))) ||
            (flow_level_ != 0 && in(c, U",?[]{}"))) {
          break;
        }
        ++n;
      }
      if (n == 0) break;
      allow_simple_key_ = false;
      text += spaces;
      text += text_.substr(mark_.index, n);
      forward(n);
      end = mark_;
      have_spaces = plain_spaces(spaces);
      if (!have_spaces || at() == U'#' || (flow_level_ == 0 && mark_.column < indent)) break;
    }
    push(Tok::scalar, start, end, utf8(text), true);
  }
  // The spaces and line breaks after a part of a plain scalar; false when there are none (or a
  // document marker follows), which ends the scalar. `folded` gets what they fold into.
  bool plain_spaces(std::u32string& folded) {
    folded.clear();
    std::size_t n = 0;
    while (at(n) == U' ') ++n;
    const std::u32string whitespace = text_.substr(mark_.index, n);
    forward(n);
    if (in(at(), kBreaks)) {
      line_break();
      allow_simple_key_ = true;
      if (separator_at_line_start()) return false;
      std::size_t breaks = 0;
      while (at() == U' ' || in(at(), kBreaks)) {
        if (at() == U' ') {
          forward();
        } else {
          line_break();
          ++breaks;
          if (separator_at_line_start()) return false;
        }
      }
      folded = breaks == 0 ? U" " : std::u32string(breaks, U'\n');
      return true;
    }
    folded = whitespace;
    return !whitespace.empty();
  }

  std::u32string text_;
  Mark mark_;
  std::deque<Token> tokens_;
  std::size_t taken_ = 0;
  bool done_ = false;
  int flow_level_ = 0;
  int indent_ = -1;
  std::vector<int> indents_;
  bool allow_simple_key_ = true;
  std::map<int, SimpleKey> keys_;
};

// ---- the parser: the grammar over tokens, as events ----

enum class Ev { stream_start, stream_end, document_start, document_end, alias, scalar, sequence_start, sequence_end,
                mapping_start, mapping_end };

struct Event {
  Ev kind;
  Mark start;
  std::string anchor;  // alias: the name it refers to
  std::string value;   // scalars
  bool plain = false;
};

class Parser {
 public:
  explicit Parser(Scanner& s) : s_(s) {}

  Event next() {
    if (state_ == State::none) fail(s_.peek().start, "internal: events after the end");
    return step();
  }

 private:
  enum class State {
    stream_start, implicit_document_start, document_start, document_end, document_content, block_node,
    block_sequence_first, block_sequence_entry, indentless_sequence_entry, block_mapping_first_key, block_mapping_key,
    block_mapping_value, flow_sequence_first, flow_sequence_entry, flow_sequence_entry_mapping_key,
    flow_sequence_entry_mapping_value, flow_sequence_entry_mapping_end, flow_mapping_first_key, flow_mapping_key,
    flow_mapping_value, flow_mapping_empty_value, none
  };

  [[noreturn]] static void fail(const Mark& m, std::string message) { throw Failure{m, std::move(message)}; }

  Event pop_state(Event e) {
    state_ = states_.back();
    states_.pop_back();
    return e;
  }
  static Event empty_scalar(const Mark& m) { return Event{Ev::scalar, m, {}, {}, false}; }

  Event step() {
    switch (state_) {
      case State::stream_start: {
        const Token t = s_.get();
        state_ = State::implicit_document_start;
        return Event{Ev::stream_start, t.start, {}, {}, false};
      }
      case State::implicit_document_start:
        if (!s_.check({Tok::directive, Tok::document_start, Tok::stream_end})) {
          const Mark m = s_.peek().start;
          states_.push_back(State::document_end);
          state_ = State::block_node;
          return Event{Ev::document_start, m, {}, {}, false};
        }
        return document_start();
      case State::document_start: return document_start();
      case State::document_end: {
        const Mark m = s_.peek().start;
        if (s_.check({Tok::document_end})) (void)s_.get();
        state_ = State::document_start;
        return Event{Ev::document_end, m, {}, {}, false};
      }
      case State::document_content:
        if (s_.check({Tok::directive, Tok::document_start, Tok::document_end, Tok::stream_end})) {
          return pop_state(empty_scalar(s_.peek().start));
        }
        return node(true, false);
      case State::block_node: return node(true, false);
      case State::block_sequence_first:
        marks_.push_back(s_.get().start);
        return block_sequence_entry();
      case State::block_sequence_entry: return block_sequence_entry();
      case State::indentless_sequence_entry: {
        if (s_.check({Tok::block_entry})) {
          const Token t = s_.get();
          if (!s_.check({Tok::block_entry, Tok::key, Tok::value, Tok::block_end})) {
            states_.push_back(State::indentless_sequence_entry);
            return node(true, false);
          }
          state_ = State::indentless_sequence_entry;
          return empty_scalar(t.end);
        }
        return pop_state(Event{Ev::sequence_end, s_.peek().start, {}, {}, false});
      }
      case State::block_mapping_first_key:
        marks_.push_back(s_.get().start);
        return block_mapping_key();
      case State::block_mapping_key: return block_mapping_key();
      case State::block_mapping_value:
        if (s_.check({Tok::value})) {
          const Token t = s_.get();
          if (!s_.check({Tok::key, Tok::value, Tok::block_end})) {
            states_.push_back(State::block_mapping_key);
            return node(true, true);
          }
          state_ = State::block_mapping_key;
          return empty_scalar(t.end);
        }
        state_ = State::block_mapping_key;
        return empty_scalar(s_.peek().start);
      case State::flow_sequence_first:
        marks_.push_back(s_.get().start);
        return flow_sequence_entry(true);
      case State::flow_sequence_entry: return flow_sequence_entry(false);
      case State::flow_sequence_entry_mapping_key: {
        const Token t = s_.get();
        if (!s_.check({Tok::value, Tok::flow_entry, Tok::flow_sequence_end})) {
          states_.push_back(State::flow_sequence_entry_mapping_value);
          return node(false, false);
        }
        state_ = State::flow_sequence_entry_mapping_value;
        return empty_scalar(t.end);
      }
      case State::flow_sequence_entry_mapping_value:
        if (s_.check({Tok::value})) {
          const Token t = s_.get();
          if (!s_.check({Tok::flow_entry, Tok::flow_sequence_end})) {
            states_.push_back(State::flow_sequence_entry_mapping_end);
            return node(false, false);
          }
          state_ = State::flow_sequence_entry_mapping_end;
          return empty_scalar(t.end);
        }
        state_ = State::flow_sequence_entry_mapping_end;
        return empty_scalar(s_.peek().start);
      case State::flow_sequence_entry_mapping_end:
        state_ = State::flow_sequence_entry;
        return Event{Ev::mapping_end, s_.peek().start, {}, {}, false};
      case State::flow_mapping_first_key:
        marks_.push_back(s_.get().start);
        return flow_mapping_key(true);
      case State::flow_mapping_key: return flow_mapping_key(false);
      case State::flow_mapping_value:
        if (s_.check({Tok::value})) {
          const Token t = s_.get();
          if (!s_.check({Tok::flow_entry, Tok::flow_mapping_end})) {
            states_.push_back(State::flow_mapping_key);
            return node(false, false);
          }
          state_ = State::flow_mapping_key;
          return empty_scalar(t.end);
        }
        state_ = State::flow_mapping_key;
        return empty_scalar(s_.peek().start);
      case State::flow_mapping_empty_value:
        state_ = State::flow_mapping_key;
        return empty_scalar(s_.peek().start);
      case State::none: break;
    }
    fail(s_.peek().start, "internal: no parser state");
  }

  Event document_start() {
    while (s_.check({Tok::document_end})) (void)s_.get();
    if (s_.check({Tok::stream_end})) {
      const Token t = s_.get();
      state_ = State::none;
      return Event{Ev::stream_end, t.start, {}, {}, false};
    }
    bool yaml_seen = false;
    std::vector<std::string> handles;
    while (s_.check({Tok::directive})) {
      const Token t = s_.get();
      if (t.value == "YAML") {
        if (yaml_seen) fail(t.start, "a second %YAML directive");
        if (t.major != 1) fail(t.start, "this is a YAML 1.x reader; the %YAML directive asks for another major version");
        yaml_seen = true;
      } else if (t.value == "TAG") {
        if (std::find(handles.begin(), handles.end(), t.handle) != handles.end()) fail(t.start, "the tag handle " + t.handle + " is defined twice");
        handles.push_back(t.handle);
      }
    }
    if (!s_.check({Tok::document_start})) {
      const Token& t = s_.peek();
      fail(t.start, std::string("expected '---' to start a document, found ") + describe(t.kind));
    }
    const Token t = s_.get();
    states_.push_back(State::document_end);
    state_ = State::document_content;
    return Event{Ev::document_start, t.start, {}, {}, false};
  }

  Event node(bool block, bool indentless_sequence) {
    if (s_.check({Tok::alias})) {
      const Token t = s_.get();
      return pop_state(Event{Ev::alias, t.start, t.value, {}, false});
    }
    std::string anchor;
    std::optional<Mark> start;
    if (s_.check({Tok::anchor})) {
      const Token t = s_.get();
      anchor = t.value;
      start = t.start;
    }
    const Mark m = start.value_or(s_.peek().start);
    if (indentless_sequence && s_.check({Tok::block_entry})) {
      state_ = State::indentless_sequence_entry;
      return Event{Ev::sequence_start, m, anchor, {}, false};
    }
    if (s_.check({Tok::scalar})) {
      const Token t = s_.get();
      return pop_state(Event{Ev::scalar, start.value_or(t.start), anchor, t.value, t.plain});
    }
    if (s_.check({Tok::flow_sequence_start})) {
      state_ = State::flow_sequence_first;
      return Event{Ev::sequence_start, m, anchor, {}, false};
    }
    if (s_.check({Tok::flow_mapping_start})) {
      state_ = State::flow_mapping_first_key;
      return Event{Ev::mapping_start, m, anchor, {}, false};
    }
    if (block && s_.check({Tok::block_sequence_start})) {
      state_ = State::block_sequence_first;
      return Event{Ev::sequence_start, m, anchor, {}, false};
    }
    if (block && s_.check({Tok::block_mapping_start})) {
      state_ = State::block_mapping_first_key;
      return Event{Ev::mapping_start, m, anchor, {}, false};
    }
    if (!anchor.empty()) return pop_state(Event{Ev::scalar, m, anchor, {}, false});  // an anchored empty value
    const Token& t = s_.peek();
    fail(t.start, std::string("expected a value, found ") + describe(t.kind));
  }

  Event block_sequence_entry() {
    if (s_.check({Tok::block_entry})) {
      const Token t = s_.get();
      if (!s_.check({Tok::block_entry, Tok::block_end})) {
        states_.push_back(State::block_sequence_entry);
        return node(true, false);
      }
      state_ = State::block_sequence_entry;
      return empty_scalar(t.end);
    }
    if (!s_.check({Tok::block_end})) {
      const Token& t = s_.peek();
      fail(t.start, std::string("the list that starts on line ") + std::to_string(marks_.back().line + 1) +
                        " ends here, yet " + describe(t.kind) +
                        " follows at its indentation (indent it as a list entry, or move it out of the list)");
    }
    const Token t = s_.get();
    marks_.pop_back();
    return pop_state(Event{Ev::sequence_end, t.start, {}, {}, false});
  }

  Event block_mapping_key() {
    if (s_.check({Tok::key})) {
      const Token t = s_.get();
      if (!s_.check({Tok::key, Tok::value, Tok::block_end})) {
        states_.push_back(State::block_mapping_value);
        return node(true, true);
      }
      state_ = State::block_mapping_value;
      return empty_scalar(t.end);
    }
    if (!s_.check({Tok::block_end})) {
      const Token& t = s_.peek();
      fail(t.start, std::string("the mapping that starts on line ") + std::to_string(marks_.back().line + 1) + " expects a key here, found " +
                        describe(t.kind) + " (check the indentation)");
    }
    const Token t = s_.get();
    marks_.pop_back();
    return pop_state(Event{Ev::mapping_end, t.start, {}, {}, false});
  }

  Event flow_sequence_entry(bool first) {
    if (!s_.check({Tok::flow_sequence_end})) {
      if (!first) {
        if (s_.check({Tok::flow_entry})) {
          (void)s_.get();
        } else {
          const Token& t = s_.peek();
          fail(t.start, std::string("the list '[' on line ") + std::to_string(marks_.back().line + 1) + " expects ',' or ']' here, found " +
                            describe(t.kind));
        }
      }
      if (s_.check({Tok::key})) {
        const Mark m = s_.peek().start;
        state_ = State::flow_sequence_entry_mapping_key;
        return Event{Ev::mapping_start, m, {}, {}, false};
      }
      if (!s_.check({Tok::flow_sequence_end})) {
        states_.push_back(State::flow_sequence_entry);
        return node(false, false);
      }
    }
    const Token t = s_.get();
    marks_.pop_back();
    return pop_state(Event{Ev::sequence_end, t.start, {}, {}, false});
  }

  Event flow_mapping_key(bool first) {
    if (!s_.check({Tok::flow_mapping_end})) {
      if (!first) {
        if (s_.check({Tok::flow_entry})) {
          (void)s_.get();
        } else {
          const Token& t = s_.peek();
          fail(t.start, std::string("the mapping '{' on line ") + std::to_string(marks_.back().line + 1) + " expects ',' or '}' here, found " +
                            describe(t.kind));
        }
      }
      if (s_.check({Tok::key})) {
        const Token t = s_.get();
        if (!s_.check({Tok::value, Tok::flow_entry, Tok::flow_mapping_end})) {
          states_.push_back(State::flow_mapping_value);
          return node(false, false);
        }
        state_ = State::flow_mapping_value;
        return empty_scalar(t.end);
      }
      if (!s_.check({Tok::flow_mapping_end})) {
        states_.push_back(State::flow_mapping_empty_value);
        return node(false, false);
      }
    }
    const Token t = s_.get();
    marks_.pop_back();
    return pop_state(Event{Ev::mapping_end, t.start, {}, {}, false});
  }

  Scanner& s_;
  State state_ = State::stream_start;
  std::vector<State> states_;
  std::vector<Mark> marks_;
};

// ---- what composing and building plain data refuse ----

// A plain value YAML 1.1 gives a meaning other than text, which a reader would not take as text.
// (Values are otherwise typed by pactwatch's own schema: a date-like value is checked where a date
// is expected, with the file's other problems, not here.)
std::optional<std::string> bad_plain(const std::string& v) {
  if (v == "=") return "a bare '=' is YAML 1.1's value indicator, not text; quote it";
  if (v == "<<") return "'<<' is YAML's merge key, which pactwatch does not support; quote it if it is meant as text";
  return std::nullopt;
}

struct Collection {
  bool mapping = false;
  bool at_key = true;  // mappings: the next node is a key
};

void check_document(Parser& p) {
  (void)p.next();  // stream start
  Event e = p.next();
  if (e.kind == Ev::stream_end) return;
  const Mark document = e.start;  // document start
  std::map<std::string, bool> anchors;  // name -> anchors a collection
  std::vector<Collection> open;
  auto key_position = [&] { return !open.empty() && open.back().mapping && open.back().at_key; };
  auto after_node = [&] {
    if (!open.empty() && open.back().mapping) open.back().at_key = !open.back().at_key;
  };
  for (e = p.next(); e.kind != Ev::document_end; e = p.next()) {
    switch (e.kind) {
      case Ev::alias: {
        const auto it = anchors.find(e.anchor);
        if (it == anchors.end()) throw Failure{e.start, "the alias *" + e.anchor + " refers to no anchor &" + e.anchor + " before it"};
        if (it->second && key_position()) throw Failure{e.start, "a mapping key must be a single value, not a list or mapping"};
        after_node();
        break;
      }
      case Ev::scalar:
        if (!e.anchor.empty()) {
          if (anchors.contains(e.anchor)) throw Failure{e.start, "the anchor &" + e.anchor + " is defined twice"};
          anchors[e.anchor] = false;
        }
        if (e.plain && !(e.value == "=" && key_position())) {
          if (const auto why = bad_plain(e.value)) throw Failure{e.start, *why};
        }
        after_node();
        break;
      case Ev::sequence_start:
      case Ev::mapping_start:
        if (key_position()) throw Failure{e.start, "a mapping key must be a single value, not a list or mapping"};
        if (!e.anchor.empty()) {
          if (anchors.contains(e.anchor)) throw Failure{e.start, "the anchor &" + e.anchor + " is defined twice"};
          anchors[e.anchor] = true;
        }
        open.push_back({e.kind == Ev::mapping_start, true});
        break;
      case Ev::sequence_end:
      case Ev::mapping_end:
        open.pop_back();
        after_node();
        break;
      default: break;
    }
  }
  e = p.next();
  if (e.kind != Ev::stream_end) {
    throw Failure{e.start, "a second YAML document starts here; a pactwatch file holds one (the first began on line " +
                               std::to_string(document.line + 1) + ")"};
  }
}

}  // namespace

std::optional<core::Diagnostic> yaml_syntax_error(std::string_view text, std::string_view file) {
  try {
    Scanner scanner(decode(text));
    Parser parser(scanner);
    check_document(parser);
  } catch (const Failure& f) {
    return core::Diagnostic{std::string(file), f.mark.line + 1, f.mark.column + 1, "YAML syntax error: " + f.message};
  }
  return std::nullopt;
}

}  // namespace pactwatch::config
