#include "migrations.h"

namespace pactwatch::store {

namespace {

std::string upper_words(const std::string& s) {
  std::string out;
  for (char c : s) {
    const bool space = c == ' ' || c == '\t' || c == '\r' || c == '\n';
    if (space) {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
    }
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  if (!out.empty() && out.front() == ' ') out.erase(out.begin());
  return out;
}

// A trigger with a body of its own statements (SQLite's BEGIN ... END); PostgreSQL's triggers
// name a function instead and end at their first semicolon.
bool is_trigger(const std::string& statement) {
  const std::string u = upper_words(statement);
  return u.starts_with("CREATE TRIGGER") && (u.find(" BEGIN ") != std::string::npos || u.ends_with(" BEGIN"));
}
bool ends_with_end(const std::string& statement) {
  const std::string u = upper_words(statement);
  return u.size() >= 4 && u.ends_with(" END");
}

}  // namespace

std::vector<std::string> split_sql(const std::string& sql) {
  std::vector<std::string> out;
  std::string current;
  enum class State { code, single_quote, double_quote, line_comment } state = State::code;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    switch (state) {
      case State::code:
        if (c == '\'') state = State::single_quote;
        else if (c == '"') state = State::double_quote;
        else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
          state = State::line_comment;
          continue;
        } else if (c == ';') {
          // A trigger's body holds statements of its own: it ends at the `;` after its END.
          if (is_trigger(current) && !ends_with_end(current)) break;
          if (current.find_first_not_of(" \t\r\n") != std::string::npos) out.push_back(current);
          current.clear();
          continue;
        }
        break;
      case State::single_quote:
        if (c == '\'') state = State::code;
        break;
      case State::double_quote:
        if (c == '"') state = State::code;
        break;
      case State::line_comment:
        if (c == '\n') state = State::code;
        continue;
    }
    current += c;
  }
  if (current.find_first_not_of(" \t\r\n") != std::string::npos) out.push_back(current);
  return out;
}

}  // namespace pactwatch::store
