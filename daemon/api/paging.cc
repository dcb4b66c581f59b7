// Keyset pages: opaque cursors, the page a request asks for, and a page of a keyed list.
#include <algorithm>
#include <charconv>

#include "internal.h"

namespace pactwatch::api {

std::string encode_cursor(const std::vector<std::string>& key) {
  const std::string raw = json(key).dump(-1, ' ', false, json::error_handler_t::replace);
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t buf = 0;
  int bits = 0;
  for (char c : raw) {
    buf = (buf << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kB64[(buf >> bits) & 63u]);
    }
  }
  if (bits > 0) out.push_back(kB64[(buf << (6 - bits)) & 63u]);
  return out;
}

std::optional<std::vector<std::string>> decode_cursor(std::string_view text) {
  if (text.size() > 2048) return std::nullopt;
  std::string raw;
  std::uint32_t buf = 0;
  int bits = 0;
  for (char ch : text) {
    std::uint32_t v = 0;
    if (ch >= 'A' && ch <= 'Z') v = static_cast<std::uint32_t>(ch - 'A');
    else if (ch >= 'a' && ch <= 'z') v = static_cast<std::uint32_t>(ch - 'a' + 26);
    else if (ch >= '0' && ch <= '9') v = static_cast<std::uint32_t>(ch - '0' + 52);
    else if (ch == '-') v = 62;
    else if (ch == '_') v = 63;
    else return std::nullopt;
    buf = (buf << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      raw.push_back(static_cast<char>((buf >> bits) & 0xFFu));
    }
  }
  auto j = json::parse(raw, nullptr, false);
  if (j.is_discarded() || !j.is_array() || j.empty()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& e : j) {
    if (!e.is_string()) return std::nullopt;
    out.push_back(e.get<std::string>());
  }
  return out;
}

Result<PageRequest> page_request(const httplib::Request& req, const ApiOptions& options) {
  PageRequest p;
  p.limit = static_cast<std::size_t>(options.default_page_size);
  if (req.has_param("limit")) {
    const auto t = req.get_param_value("limit");
    int n = 0;
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
    if (ec != std::errc() || ptr != t.data() + t.size() || n < 1) {
      return std::unexpected(bad_request("limit: expected a positive integer (at most " + std::to_string(options.max_page_size) + ")"));
    }
    p.limit = static_cast<std::size_t>(std::min(n, options.max_page_size));
  }
  if (req.has_param("cursor")) {
    auto key = decode_cursor(req.get_param_value("cursor"));
    if (!key) return std::unexpected(bad_request("cursor: not a cursor this API gave out (use next_cursor as given)"));
    p.after = std::move(*key);
  }
  return p;
}

json page_of(std::vector<std::pair<std::vector<std::string>, json>> keyed, const PageRequest& page) {
  json items = json::array();
  json next = nullptr;
  std::size_t taken = 0;
  for (std::size_t i = 0; i < keyed.size(); ++i) {
    if (page.after && keyed[i].first <= *page.after) continue;
    if (taken == page.limit) {
      next = encode_cursor(keyed[i - 1].first);
      break;
    }
    items.push_back(std::move(keyed[i].second));
    ++taken;
  }
  return json{{"items", items}, {"next_cursor", next}};
}

}  // namespace pactwatch::api
