#include "migrations.h"

namespace pactwatch::store {

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
