// SHA-256 digests as lower-case hex: contract hashes, input digests, the ledger's hash chains.
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace pactwatch::core {

using Sha256 = std::array<unsigned char, 32>;

[[nodiscard]] std::string sha256_hex(std::string_view data);
// The raw digest (32 bytes), for keeping many of them compactly; hex_of gives sha256_hex's text.
[[nodiscard]] Sha256 sha256(std::string_view data);
[[nodiscard]] std::string hex_of(const Sha256& digest);
// Appends hex_of(digest) to `out`.
void append_hex(std::string& out, const Sha256& digest);

}  // namespace pactwatch::core
