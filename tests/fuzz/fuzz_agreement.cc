// Fuzz target: an agreement record as `pactwatch contract verify` reads it (any file a party hands
// over). Never throws; a document it accepts holds what the signature promises: canonical text
// hashing to the record's sha256, and one brand and one partner approval of that hash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "pactwatch/core/digest.h"
#include "pactwatch/ledger/agreement_record.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pactwatch;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto verified = ledger::verify_agreement(text, std::nullopt);
  if (!verified) return 0;
  const auto doc = nlohmann::json::parse(text, nullptr, false);
  if (!doc.is_object()) std::abort();
  const auto& record = doc.at("record");
  if (core::sha256_hex(record.at("canonical").get<std::string>()) != record.at("sha256").get<std::string>()) std::abort();
  if (verified->sha256 != record.at("sha256").get<std::string>() || verified->approvals.size() != 2) std::abort();
  return 0;
}
