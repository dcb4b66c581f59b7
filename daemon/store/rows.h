// Multi-row statements: many rows of bound values in one INSERT (or one IN list), so a batch of
// writes costs one round trip per few hundred rows instead of one per row. The same text serves
// SQLite and PostgreSQL; every value is bound (never spliced into the text).
#pragma once

#include <soci/soci.h>

#include <algorithm>
#include <cstddef>
#include <deque>
#include <optional>
#include <string>

namespace pactwatch::store {

// Bound values of one or more rows, in column order; each keeps its address until run.
class Rows {
 public:
  explicit Rows(std::size_t columns) : columns_(columns) {}

  Rows& text(std::string v) {
    cells_.push_back({std::move(v), 0, false, soci::i_ok});
    return *this;
  }
  Rows& text(const std::optional<std::string>& v) {
    cells_.push_back({v.value_or(std::string()), 0, false, v ? soci::i_ok : soci::i_null});
    return *this;
  }
  Rows& number(long long v) {
    cells_.push_back({std::string(), v, true, soci::i_ok});
    return *this;
  }
  [[nodiscard]] std::size_t size() const { return cells_.size() / columns_; }
  [[nodiscard]] bool empty() const { return cells_.empty(); }

  // Runs `head` + "(:p0,...),(...)" + `tail` over the rows, at most `per_statement` rows (and
  // 30,000 values, under both databases' limits) a statement. SQLite gets anonymous `?`
  // placeholders: it looks each name up among those before it, which made a statement of
  // thousands of named values cost quadratic time to prepare.
  void run(soci::session& sql, const std::string& head, const std::string& tail, std::size_t per_statement = 500) {
    const bool anonymous = anonymous_placeholders(sql);
    const std::size_t rows = size();
    const std::size_t step = std::max<std::size_t>(1, std::min(per_statement, 30000 / columns_));
    for (std::size_t first = 0; first < rows; first += step) {
      const std::size_t n = std::min(step, rows - first);
      std::string query = head;
      std::size_t param = 0;
      for (std::size_t r = 0; r < n; ++r) {
        query += r ? ",(" : "(";
        for (std::size_t c = 0; c < columns_; ++c) {
          if (c) query += ',';
          query += anonymous ? std::string("?") : ":p" + std::to_string(param);
          ++param;
        }
        query += ')';
      }
      query += tail;
      soci::statement st(sql);
      for (std::size_t i = first * columns_; i < (first + n) * columns_; ++i) bind(st, cells_[i]);
      st.alloc();
      st.prepare(query);
      st.define_and_bind();
      st.execute(true);
    }
  }

  // Whether the session's database takes `?` for placeholders bound by position (SQLite).
  static bool anonymous_placeholders(soci::session& sql) { return sql.get_backend_name() == "sqlite3"; }

 private:
  struct Cell {
    std::string text;
    long long number = 0;
    bool is_number = false;
    soci::indicator ind = soci::i_ok;
  };
  static void bind(soci::statement& st, Cell& c) {
    if (c.is_number) st.exchange(soci::use(c.number, c.ind));
    else st.exchange(soci::use(c.text, c.ind));
  }

  std::size_t columns_;
  std::deque<Cell> cells_;
};

}  // namespace pactwatch::store
