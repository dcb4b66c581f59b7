// SHA-256 digests as lower-case hex: contract hashes, input digests, the ledger's hash chains.
#pragma once

#include <string>
#include <string_view>

namespace pactwatch::core {

[[nodiscard]] std::string sha256_hex(std::string_view data);

}  // namespace pactwatch::core
