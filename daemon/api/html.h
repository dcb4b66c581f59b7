// The portal's HTML, escaped by default. A page is Markup: built from literals of ours ("<td>"_html,
// which only a string literal can be), from other Markup, and from text — any string appended to
// Markup is escaped, which is right both between tags and inside a double-quoted attribute value.
// Markup::trusted() marks a string as markup explicitly, for markup that code of ours generated
// from no data (the trend chart's coordinates); it is the one way in for anything else.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace pactwatch::api::html {

// &, <, >, " and ' as character references.
[[nodiscard]] std::string escape(std::string_view text);

class Markup {
 public:
  Markup() = default;
  // Markup taken as it is. Never for data: data is appended as text.
  [[nodiscard]] static Markup trusted(std::string markup) { return Markup(std::move(markup)); }
  // Text, escaped.
  [[nodiscard]] static Markup text(std::string_view text) { return Markup(escape(text)); }

  Markup& operator+=(const Markup& m) {
    s_ += m.s_;
    return *this;
  }
  Markup& operator+=(std::string_view text) {
    s_ += escape(text);
    return *this;
  }

  [[nodiscard]] const std::string& str() const& { return s_; }
  [[nodiscard]] std::string str() && { return std::move(s_); }
  [[nodiscard]] bool empty() const { return s_.empty(); }

 private:
  explicit Markup(std::string s) : s_(std::move(s)) {}
  std::string s_;
};

[[nodiscard]] inline Markup operator+(Markup a, const Markup& b) { return a += b; }
// The text is escaped.
[[nodiscard]] inline Markup operator+(Markup a, std::string_view text) { return a += text; }

namespace literals {
// "<p class=\"muted\">"_html: markup written in our code.
[[nodiscard]] inline Markup operator""_html(const char* s, std::size_t n) { return Markup::trusted(std::string(s, n)); }
}  // namespace literals

}  // namespace pactwatch::api::html
