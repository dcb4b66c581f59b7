#include "pactwatch/ledger/agreement_record.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>  // renameat2, RENAME_NOREPLACE
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <random>
#include <set>
#include <stdexcept>

#include "pactwatch/calendar/calendar_file.h"
#include "pactwatch/core/digest.h"
#include "pactwatch/ledger/agreements.h"
#include "pactwatch/rules/approvals.h"

namespace pactwatch::ledger {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

constexpr std::size_t kRawKeySize = 32;
constexpr std::size_t kSignatureSize = 64;

// The oldest error OpenSSL queued on this thread (the queue emptied), or "unknown error".
std::string openssl_error() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown error";
  std::array<char, 256> buf{};
  ERR_error_string_n(code, buf.data(), buf.size());
  return buf.data();
}

// Owns a file descriptor.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int get() const { return fd_; }
  // Closes now, reporting a failure (a write-back error shows up here).
  [[nodiscard]] bool close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

std::string errno_text() { return std::strerror(errno); }

std::string base64(const unsigned char* data, std::size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// Strict standard base64 (padded, no whitespace): the one encoding of the bytes, so a changed
// character never decodes to the same signature.
std::optional<std::string> unbase64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  std::size_t padding = 0;
  if (text.ends_with("==")) padding = 2;
  else if (text.ends_with("=")) padding = 1;
  out.resize(static_cast<std::size_t>(n) - padding);
  if (base64(reinterpret_cast<const unsigned char*>(out.data()), out.size()) != text) return std::nullopt;
  return out;
}

std::optional<std::string> raw_public_key(EVP_PKEY* key) {
  std::string raw(kRawKeySize, '\0');
  std::size_t len = raw.size();
  if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(raw.data()), &len) != 1 || len != kRawKeySize) {
    ERR_clear_error();
    return std::nullopt;
  }
  return raw;
}

std::string key_id_of(const std::string& raw) { return core::sha256_hex(raw).substr(0, 16); }

bool is_ed25519(EVP_PKEY* key) { return EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519; }

// A public key from PEM (SubjectPublicKeyInfo), Ed25519 only.
std::expected<PkeyPtr, std::string> parse_public_key(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return std::unexpected("out of memory");
  PkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    ERR_clear_error();
    return std::unexpected("not a PEM public key");
  }
  if (!is_ed25519(key.get())) return std::unexpected("not an Ed25519 public key");
  return key;
}

std::expected<std::string, std::string> read_all(int fd, const fs::path& file) {
  std::string text;
  std::array<char, 4096> buf{};
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::unexpected("cannot read the signing key " + file.string() + ": " + errno_text());
    }
    if (n == 0) break;
    text.append(buf.data(), static_cast<std::size_t>(n));
    if (text.size() > 64 * 1024) return std::unexpected("the signing key " + file.string() + " is not a key (too large)");
  }
  return text;
}

// Reads the key in `file`: nullopt when there is no file, else the key or why not.
std::optional<std::expected<PkeyPtr, std::string>> read_key(const fs::path& file) {
  Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return std::nullopt;
    return std::unexpected("cannot open the signing key " + file.string() + ": " + errno_text());
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return std::unexpected("cannot stat the signing key " + file.string() + ": " + errno_text());
  if (!S_ISREG(st.st_mode)) return std::unexpected("the signing key " + file.string() + " is not a regular file");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return std::unexpected("the signing key " + file.string() + " is accessible to group or others (mode " + mode +
                           "); restrict it to its owner with 'chmod 600 " + file.string() + "'");
  }
  auto text = read_all(fd.get(), file);
  if (!text) return std::unexpected(text.error());
  BioPtr bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
  if (!bio) return std::unexpected("out of memory");
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  OPENSSL_cleanse(text->data(), text->size());
  if (!key) {
    return std::unexpected("the signing key " + file.string() + " is not a PEM private key (" + openssl_error() + ")");
  }
  if (!is_ed25519(key.get())) {
    return std::unexpected("the signing key " + file.string() + " is not an Ed25519 key (it is " +
                           std::string(EVP_PKEY_get0_type_name(key.get()) ? EVP_PKEY_get0_type_name(key.get()) : "another type") +
                           "); move it away and a new Ed25519 key is made, or point agreements.signing_key at one");
  }
  return key;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Moves `from` to `to` unless `to` exists: false with errno EEXIST when it does.
bool move_no_replace(const fs::path& from, const fs::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return true;
  if (errno != EINVAL && errno != ENOSYS) return false;
  // A file system without RENAME_NOREPLACE: a hard link fails the same way on an existing name.
  if (::link(from.c_str(), to.c_str()) != 0) return false;
  ::unlink(from.c_str());
  return true;
}

// Writes a new key to `file` (see load_or_create); true when this process's key is the one in
// place, false when another's got there first.
std::expected<bool, std::string> write_new_key(const fs::path& file, EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return std::unexpected("cannot encode a new signing key: " + openssl_error());
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  const std::string_view pem(data, static_cast<std::size_t>(size));

  const fs::path dir = file.has_parent_path() ? file.parent_path() : fs::path(".");
  std::random_device rd;
  const fs::path tmp = dir / ("." + file.filename().string() + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(rd()));
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (fd.get() < 0) return std::unexpected("cannot create the signing key " + file.string() + ": " + tmp.string() + ": " + errno_text());
  const bool written = write_all(fd.get(), pem) && ::fsync(fd.get()) == 0;
  std::string write_error = written ? "" : errno_text();
  if (!fd.close() && written) write_error = errno_text();
  if (!write_error.empty()) {
    ::unlink(tmp.c_str());
    return std::unexpected("cannot write the signing key " + tmp.string() + ": " + write_error);
  }
  if (!move_no_replace(tmp, file)) {
    const int err = errno;
    ::unlink(tmp.c_str());
    if (err == EEXIST) return false;
    return std::unexpected("cannot move the new signing key into " + file.string() + ": " + std::strerror(err));
  }
  if (Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)); d.get() < 0 || ::fsync(d.get()) != 0) {
    return std::unexpected("cannot sync the directory of the new signing key " + file.string() + ": " + errno_text());
  }
  return true;
}

// A member of `obj` of the given type, or why not ("record.sha256: missing").
std::expected<const json*, std::string> member(const json& obj, const std::string& where, const char* key, json::value_t type) {
  const auto it = obj.find(key);
  const std::string name = where.empty() ? std::string(key) : where + "." + key;
  if (it == obj.end()) return std::unexpected(name + " is missing");
  const bool matches = type == json::value_t::number_integer ? it->is_number_integer() : it->type() == type;
  if (!matches) {
    const char* expected = type == json::value_t::string   ? "a string"
                           : type == json::value_t::object ? "an object"
                           : type == json::value_t::array  ? "an array"
                                                           : "an integer";
    return std::unexpected(name + " is not " + expected);
  }
  return &*it;
}

std::expected<std::string, std::string> string_member(const json& obj, const std::string& where, const char* key) {
  auto m = member(obj, where, key, json::value_t::string);
  if (!m) return std::unexpected(m.error());
  return (*m)->get<std::string>();
}

// The first key that appears twice in one object of `document`, if any. A JSON parser keeps one of
// the two (nlohmann::json the last), so a document could show a reader one value and have the
// other checked: a valid record has every key once.
std::optional<std::string> duplicate_key(std::string_view document) {
  std::vector<std::set<std::string>> open;  // the keys seen in each object being read
  std::optional<std::string> found;
  json::parser_callback_t cb = [&](int, json::parse_event_t event, json& parsed) {
    if (found) return true;
    switch (event) {
      case json::parse_event_t::object_start: open.emplace_back(); break;
      case json::parse_event_t::object_end:
        if (!open.empty()) open.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open.empty() && parsed.is_string() && !open.back().insert(parsed.get<std::string>()).second) found = parsed.get<std::string>();
        break;
      default: break;
    }
    return true;
  };
  const json parsed = json::parse(document, cb, false);  // read for the callback's sake
  static_cast<void>(parsed);
  return found;
}

std::expected<VerifiedAgreement, std::string> verify(std::string_view document, const std::optional<std::string>& expected_pem) {
  const json doc = json::parse(document, nullptr, false);
  if (doc.is_discarded()) return std::unexpected("not JSON");
  if (!doc.is_object()) return std::unexpected("not a JSON object");
  if (auto twice = duplicate_key(document)) return std::unexpected("the key '" + *twice + "' appears twice in one object");
  for (const auto& [key, _] : doc.items()) {
    if (key != "record" && key != "signature") {
      return std::unexpected("'" + key + "' is not part of an agreement record (only record and signature are)");
    }
  }
  auto record = member(doc, "", "record", json::value_t::object);
  if (!record) return std::unexpected(record.error());
  auto sig = member(doc, "", "signature", json::value_t::object);
  if (!sig) return std::unexpected(sig.error());
  const json& r = **record;
  const json& s = **sig;

  auto format = string_member(r, "record", "format");
  if (!format) return std::unexpected(format.error());
  if (*format != kAgreementFormat) {
    return std::unexpected("record.format is '" + *format + "', expected '" + std::string(kAgreementFormat) + "'");
  }
  for (const auto& [key, want] : {std::pair{"algorithm", "Ed25519"}, {"signed", "record"}}) {
    auto v = string_member(s, "signature", key);
    if (!v) return std::unexpected(v.error());
    if (*v != want) return std::unexpected("signature." + std::string(key) + " is '" + *v + "', expected '" + want + "'");
  }
  auto pem = string_member(s, "signature", "public_key");
  if (!pem) return std::unexpected(pem.error());
  auto key = parse_public_key(*pem);
  if (!key) return std::unexpected("signature.public_key: " + key.error());
  const auto raw = raw_public_key(key->get());
  if (!raw) return std::unexpected("signature.public_key: cannot read the raw key");
  auto key_id = string_member(s, "signature", "key_id");
  if (!key_id) return std::unexpected(key_id.error());
  if (*key_id != key_id_of(*raw)) {
    return std::unexpected("signature.key_id " + *key_id + " does not name the public key given (" + key_id_of(*raw) + ")");
  }
  auto value = string_member(s, "signature", "value");
  if (!value) return std::unexpected(value.error());
  const auto signature = unbase64(*value);
  if (!signature || signature->size() != kSignatureSize) {
    return std::unexpected("signature.value is not the base64 of a 64-byte Ed25519 signature");
  }

  const std::string message = r.dump();
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key->get()) != 1) {
    return std::unexpected("cannot check the signature: " + openssl_error());
  }
  const int ok = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature->data()), signature->size(),
                                  reinterpret_cast<const unsigned char*>(message.data()), message.size());
  ERR_clear_error();
  if (ok != 1) {
    return std::unexpected("the signature does not match the record: the record was changed after it was signed, or "
                           "signed by another key");
  }
  if (expected_pem) {
    auto expected = parse_public_key(*expected_pem);
    if (!expected) return std::unexpected("the expected public key: " + expected.error());
    const auto expected_raw = raw_public_key(expected->get());
    if (!expected_raw || *expected_raw != *raw) {
      return std::unexpected("signed by key " + key_id_of(*raw) + ", not by the expected key " +
                             (expected_raw ? key_id_of(*expected_raw) : std::string("(unreadable)")));
    }
  }

  // A valid signature proves the record is the installation's; the rest checks the installation
  // signed a consistent one.
  VerifiedAgreement out;
  auto contract = string_member(r, "record", "contract");
  if (!contract) return std::unexpected(contract.error());
  auto version = member(r, "record", "version", json::value_t::number_integer);
  if (!version) return std::unexpected(version.error());
  auto sha = string_member(r, "record", "sha256");
  if (!sha) return std::unexpected(sha.error());
  auto canonical = string_member(r, "record", "canonical");
  if (!canonical) return std::unexpected(canonical.error());
  if (core::sha256_hex(*canonical) != *sha) {
    return std::unexpected("record.canonical hashes to " + core::sha256_hex(*canonical) + ", not to record.sha256 " + *sha);
  }
  auto approvals = member(r, "record", "approvals", json::value_t::array);
  if (!approvals) return std::unexpected(approvals.error());
  int brand = 0, partner = 0;
  for (std::size_t i = 0; i < (*approvals)->size(); ++i) {
    const json& a = (**approvals)[i];
    const std::string where = "record.approvals[" + std::to_string(i) + "]";
    if (!a.is_object()) return std::unexpected(where + " is not an object");
    auto party = string_member(a, where, "party");
    if (!party) return std::unexpected(party.error());
    auto approved = string_member(a, where, "sha256");
    if (!approved) return std::unexpected(approved.error());
    auto name = string_member(a, where, "actor_name");
    if (!name) return std::unexpected(name.error());
    auto at = string_member(a, where, "at");
    if (!at) return std::unexpected(at.error());
    if (*approved != *sha) return std::unexpected(where + " (" + *party + ") approves " + *approved + ", not record.sha256 " + *sha);
    if (*party == "brand") ++brand;
    else if (*party == "partner") ++partner;
    else return std::unexpected(where + ".party is '" + *party + "', expected brand or partner");
    out.approvals.push_back(*party + ": " + *name + " at " + *at);
  }
  if (brand != 1 || partner != 1) {
    return std::unexpected("record.approvals must hold exactly one brand and one partner approval (it holds " +
                           std::to_string(brand) + " brand, " + std::to_string(partner) + " partner)");
  }
  std::stable_sort(out.approvals.begin(), out.approvals.end(),
                   [](const std::string& a, const std::string& b) { return a.starts_with("brand") && !b.starts_with("brand"); });
  out.contract = *contract;
  out.version = (*version)->get<int>();
  out.sha256 = *sha;
  out.key_id = key_id_of(*raw);
  return out;
}

}  // namespace

std::expected<SigningKey, std::string> SigningKey::load_or_create(const fs::path& file) {
  // Two tries: when another process writes the key between our read and our write, read theirs.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (auto existing = read_key(file)) {
      if (!*existing) return std::unexpected(existing->error());
      return SigningKey(std::shared_ptr<EVP_PKEY>(existing->value().release(), PkeyFree{}));
    }
    PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    if (!key) return std::unexpected("cannot generate an Ed25519 signing key: " + openssl_error());
    auto placed = write_new_key(file, key.get());
    if (!placed) return std::unexpected(placed.error());
    if (*placed) return SigningKey(std::shared_ptr<EVP_PKEY>(key.release(), PkeyFree{}));
  }
  return std::unexpected("cannot read the signing key " + file.string() + " another process was writing");
}

std::string SigningKey::public_key_pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1) throw std::runtime_error("cannot encode the public key: " + openssl_error());
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::string SigningKey::key_id() const {
  const auto raw = raw_public_key(key_.get());
  if (!raw) throw std::runtime_error("cannot read the raw public key of the signing key");
  return key_id_of(*raw);
}

std::string SigningKey::sign(std::string_view message) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::array<unsigned char, kSignatureSize> sig{};
  std::size_t len = sig.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig.data(), &len, reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
    throw std::runtime_error("cannot sign: " + openssl_error());
  }
  return base64(sig.data(), len);
}

std::expected<json, std::string> agreement_record(const rules::ContractVersion& v, std::span<const core::ContractAction> acts,
                                                  core::Instant issued_at) {
  const std::string name = v.contract + " v" + std::to_string(v.version);
  if (!v.agreement) return std::unexpected(name + ": its recorded approvals were not read; no agreement record without them");
  const core::Agreement& a = *v.agreement;
  if (!a.agreed() || !a.brand_approval || !a.partner_approval || a.brand_approval->sha256 != v.sha256 ||
      a.partner_approval->sha256 != v.sha256) {
    return std::unexpected(name + " is not agreed (it is " + std::string(core::to_string(a.state)) +
                           "): an agreement record needs both parties' recorded approvals of its current content");
  }
  auto canonical = rules::canonical_of(v);
  if (!canonical) return std::unexpected(name + ": " + canonical.error());
  json all = json::array();
  for (const auto& act : rules::acts_on(v, acts)) all.push_back(act_json(act));
  json body = {{"format", kAgreementFormat},
               {"contract", v.contract},
               {"version", v.version},
               {"partner", v.partner},
               {"effective_from", calendar::format_date(v.effective_from)},
               {"effective_until", v.effective_until ? json(calendar::format_date(*v.effective_until)) : json(nullptr)},
               {"sha256", v.sha256},
               {"canonical", *canonical},
               {"approvals", json::array({act_json(*a.brand_approval), act_json(*a.partner_approval)})},
               {"acts", std::move(all)},
               {"issued_at", core::format_rfc3339(issued_at)}};
  try {
    (void)body.dump();  // what is signed must serialize: valid UTF-8 throughout
  } catch (const json::exception& e) {
    return std::unexpected(name + ": the record cannot be serialized: " + e.what());
  }
  return body;
}

std::string signed_agreement(const json& body, const SigningKey& key) {
  const json doc = {{"record", body},
                    {"signature",
                     {{"algorithm", "Ed25519"},
                      {"key_id", key.key_id()},
                      {"public_key", key.public_key_pem()},
                      {"signed", "record"},
                      {"value", key.sign(body.dump())}}}};
  return doc.dump(2) + "\n";
}

std::expected<VerifiedAgreement, std::string> verify_agreement(std::string_view document,
                                                               const std::optional<std::string>& expected_public_key_pem) {
  try {
    return verify(document, expected_public_key_pem);
  } catch (const std::exception& e) {
    return std::unexpected(std::string("cannot be read: ") + e.what());
  }
}

}  // namespace pactwatch::ledger
