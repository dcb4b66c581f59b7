// The agreement record: a document both parties can keep that says which exact content of a
// contract version brand and partner approved, with every act recorded on it, signed by the
// installation's own Ed25519 key and verifiable offline (docs/rules.md, "The agreement record").
//
// The document is JSON:
//
//   {"record": BODY,
//    "signature": {"algorithm": "Ed25519", "key_id": "...", "public_key": "-----BEGIN PUBLIC KEY-----...",
//                  "signed": "record", "value": "BASE64"}}
//
// The signed message is exactly the bytes of BODY serialized compactly: UTF-8, no whitespace
// outside strings, object keys sorted by their UTF-8 bytes, strings escaped as nlohmann::json's
// dump() escapes them (only '"', '\\' and control characters; everything else as is). The value
// is the standard base64 (RFC 4648, with padding, no line breaks) of the 64-byte Ed25519
// signature (RFC 8032, pure Ed25519: no pre-hash). A third party can check it with any Ed25519
// tool given those bytes; `pactwatch contract verify` produces them from the document itself.
#pragma once

#include <expected>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "pactwatch/core/agreement.h"
#include "pactwatch/core/time.h"
#include "pactwatch/rules/contract.h"

// OpenSSL's key type, kept out of this header.
struct evp_pkey_st;

namespace pactwatch::ledger {

inline constexpr std::string_view kAgreementFormat = "pactwatch-agreement/1";

// The installation's Ed25519 key. Copies share the one key.
class SigningKey {
 public:
  // Reads the PEM (PKCS#8) Ed25519 private key in `file`. When there is no such file, generates
  // one and writes it with mode 0600 atomically (a temporary file in the same directory, synced,
  // moved into place without replacing anything, the directory synced): when another process
  // wrote the key first, its key is read instead. Refused, naming the file: a file that cannot
  // be read, one readable or writable by group or others, one that is not an Ed25519 private key.
  [[nodiscard]] static std::expected<SigningKey, std::string> load_or_create(const std::filesystem::path& file);

  // The public key as PEM (SubjectPublicKeyInfo, "-----BEGIN PUBLIC KEY-----"), ending in a newline.
  [[nodiscard]] std::string public_key_pem() const;
  // The first 16 hex digits of the SHA-256 of the raw 32-byte public key.
  [[nodiscard]] std::string key_id() const;
  // The Ed25519 signature of `message`, base64 without line breaks. Like public_key_pem and
  // key_id, throws std::runtime_error only when OpenSSL fails (out of memory).
  [[nodiscard]] std::string sign(std::string_view message) const;

 private:
  explicit SigningKey(std::shared_ptr<evp_pkey_st> key) : key_(std::move(key)) {}
  std::shared_ptr<evp_pkey_st> key_;
};

// The record body of an agreed version `v` (of a rule set with the recorded approvals applied,
// rules::apply_recorded_approvals): its identity, effective dates, content hash and canonical
// text (read again from v.file), both approvals, and every act of `acts` on this version in seq
// order (`acts` may hold other versions' and contracts' acts: they are left out), issued at
// `issued_at`. Refused, saying why, when the version is not agreed, or when its file cannot be
// read or no longer hashes to v.sha256.
[[nodiscard]] std::expected<nlohmann::json, std::string> agreement_record(const rules::ContractVersion& v,
                                                                        std::span<const core::ContractAction> acts,
                                                                        core::Instant issued_at);

// The signed document for `body` (agreement_record's, whose strings are valid UTF-8), pretty-printed,
// ending in a newline.
[[nodiscard]] std::string signed_agreement(const nlohmann::json& body, const SigningKey& key);

// What a valid document says.
struct VerifiedAgreement {
  std::string contract;
  int version = 0;
  std::string sha256;
  std::string key_id;
  std::vector<std::string> approvals;  // "brand: NAME at TIME", then "partner: NAME at TIME"
};

// Checks a document without any store or config: its shape, the signature over the record with
// the public key it carries, that key against `expected_public_key_pem` when given (the raw keys
// compared), the canonical text against the record's hash, and that the record carries exactly
// one brand and one partner approval, both of that hash. Never throws; a refusal says what is
// wrong.
[[nodiscard]] std::expected<VerifiedAgreement, std::string> verify_agreement(
    std::string_view document, const std::optional<std::string>& expected_public_key_pem);

}  // namespace pactwatch::ledger
