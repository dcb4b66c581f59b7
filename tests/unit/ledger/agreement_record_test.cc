// The agreement record (ledger/agreement_record.h): the installation's key on disk, the record of
// an agreed example contract, its signature, and every kind of change to a signed record refused.
#include "pactwatch/ledger/agreement_record.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "pactwatch/core/digest.h"
#include "pactwatch/rules/approvals.h"
#include "temp_dir.h"

namespace pactwatch::ledger {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kSource = PACTWATCH_SOURCE_DIR;

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0);
  return st.st_mode & 07777;
}

// A PEM private key of another algorithm ("RSA", "EC").
std::string other_key_pem(const char* type) {
  EVP_PKEY* key = std::string(type) == "RSA" ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048))
                                             : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  EXPECT_NE(key, nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  EXPECT_EQ(PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr), 1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(size));
  BIO_free(bio);
  EVP_PKEY_free(key);
  return pem;
}

core::ContractAction act(const rules::ContractVersion& v, core::Party party, core::ContractAct what, std::int64_t seq) {
  core::ContractAction a;
  a.seq = seq;
  a.contract = v.contract;
  a.version = v.version;
  a.sha256 = v.sha256;
  a.party = party;
  a.act = what;
  a.actor = party == core::Party::brand ? "cli:ops" : "tok_partner";
  a.actor_name = party == core::Party::brand ? "ops@brand.example" : "coo@partner.example";
  a.at = core::from_unix_ms(1767225600000 + seq * 60000);
  a.comment = what == core::ContractAct::propose ? "for Q1 — with an em dash" : "";
  return a;
}

// The shipped examples copied into `dir`, with northwind-support v3 agreed by recorded acts.
struct Agreed {
  rules::RuleSet set;
  std::vector<core::ContractAction> acts;
  const rules::ContractVersion* v = nullptr;
};

Agreed agreed_examples(const fs::path& dir, bool both = true) {
  fs::copy(kSource / "rules/examples", dir, fs::copy_options::recursive);
  auto set = rules::load_rule_set(dir);
  EXPECT_TRUE(set.has_value());
  Agreed out{std::move(*set), {}, nullptr};
  const auto* v = *rules::find_version(out.set, "northwind-support", 3);
  out.acts = {act(*v, core::Party::brand, core::ContractAct::propose, 1),
              act(*v, core::Party::brand, core::ContractAct::comment, 2),
              act(*v, core::Party::partner, core::ContractAct::approve, 3)};
  if (both) out.acts.push_back(act(*v, core::Party::brand, core::ContractAct::approve, 4));
  EXPECT_TRUE(rules::apply_recorded_approvals(out.set, out.acts).empty());
  out.v = *rules::find_version(out.set, "northwind-support", 3);
  return out;
}

const core::Instant kIssued = core::from_unix_ms(1767312000000);

TEST(SigningKey, IsCreatedOwnerOnlyAndReadBackTheSame) {
  testutils::TempDir dir;
  const fs::path file = dir / "agreement-signing.key";
  auto first = SigningKey::load_or_create(file);
  ASSERT_TRUE(first) << first.error();
  EXPECT_EQ(mode_of(file), 0600u);
  EXPECT_EQ(first->key_id().size(), 16u);
  EXPECT_NE(first->public_key_pem().find("-----BEGIN PUBLIC KEY-----"), std::string::npos);
  EXPECT_NE(testutils::read_file(file).find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
  auto again = SigningKey::load_or_create(file);
  ASSERT_TRUE(again) << again.error();
  EXPECT_EQ(again->key_id(), first->key_id());
  EXPECT_EQ(again->public_key_pem(), first->public_key_pem());
  // No temporary file is left beside it.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

// Processes starting at once on a fresh state directory end up with one key, whoever wrote it.
TEST(SigningKey, RacingCreatorsAllGetTheOneKeyWritten) {
  testutils::TempDir dir;
  const fs::path file = dir / "agreement-signing.key";
  std::vector<std::string> ids(8);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    threads.emplace_back([&, i] {
      auto k = SigningKey::load_or_create(file);
      ids[i] = k ? k->key_id() : k.error();
    });
  }
  for (auto& t : threads) t.join();
  auto final = SigningKey::load_or_create(file);
  ASSERT_TRUE(final) << final.error();
  for (const auto& id : ids) EXPECT_EQ(id, final->key_id());
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(SigningKey, RefusesAKeyOthersCanRead) {
  testutils::TempDir dir;
  const fs::path file = dir / "k.pem";
  ASSERT_TRUE(SigningKey::load_or_create(file));
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  auto r = SigningKey::load_or_create(file);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find(file.string()), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("mode 0644"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("chmod 600"), std::string::npos) << r.error();
}

TEST(SigningKey, RefusesKeysOfOtherAlgorithmsAndOtherFiles) {
  testutils::TempDir dir;
  for (const char* type : {"RSA", "EC"}) {
    const fs::path file = dir.write(std::string(type) + ".pem", other_key_pem(type));
    fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
    auto r = SigningKey::load_or_create(file);
    ASSERT_FALSE(r) << type;
    EXPECT_NE(r.error().find("is not an Ed25519 key"), std::string::npos) << r.error();
    EXPECT_NE(r.error().find(file.string()), std::string::npos) << r.error();
  }
  const fs::path junk = dir.write("junk.pem", "not a key\n");
  fs::permissions(junk, fs::perms::owner_read | fs::perms::owner_write);
  auto r = SigningKey::load_or_create(junk);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("is not a PEM private key"), std::string::npos) << r.error();
  auto missing_dir = SigningKey::load_or_create(dir / "no/such/dir/k.pem");
  ASSERT_FALSE(missing_dir);
  EXPECT_NE(missing_dir.error().find("cannot create the signing key"), std::string::npos) << missing_dir.error();
}

TEST(AgreementRecord, SignedAndVerifiedWithTheKeyItNames) {
  testutils::TempDir dir;
  const auto w = agreed_examples(dir / "rules");
  auto body = agreement_record(*w.v, w.acts, kIssued);
  ASSERT_TRUE(body) << body.error();
  EXPECT_EQ((*body)["format"], "pactwatch-agreement/1");
  EXPECT_EQ((*body)["contract"], "northwind-support");
  EXPECT_EQ((*body)["version"], 3);
  EXPECT_EQ((*body)["sha256"], w.v->sha256);
  EXPECT_EQ(core::sha256_hex((*body)["canonical"].get<std::string>()), w.v->sha256);
  EXPECT_EQ((*body)["effective_from"], "2026-01-01");
  EXPECT_EQ((*body)["issued_at"], "2026-01-02T00:00:00Z");
  ASSERT_EQ((*body)["approvals"].size(), 2u);
  EXPECT_EQ((*body)["approvals"][0]["party"], "brand");
  EXPECT_EQ((*body)["approvals"][0]["seq"], 4);
  EXPECT_EQ((*body)["approvals"][1]["party"], "partner");
  ASSERT_EQ((*body)["acts"].size(), 4u);
  EXPECT_EQ((*body)["acts"][1]["act"], "comment");

  auto key = SigningKey::load_or_create(dir / "k.pem");
  ASSERT_TRUE(key) << key.error();
  const std::string doc = signed_agreement(*body, *key);
  ASSERT_TRUE(doc.ends_with("}\n"));
  const json parsed = json::parse(doc);
  EXPECT_EQ(parsed["signature"]["key_id"], key->key_id());
  EXPECT_EQ(parsed["signature"]["value"].get<std::string>().find('\n'), std::string::npos);

  auto ok = verify_agreement(doc, std::nullopt);
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ(ok->contract, "northwind-support");
  EXPECT_EQ(ok->version, 3);
  EXPECT_EQ(ok->sha256, w.v->sha256);
  EXPECT_EQ(ok->key_id, key->key_id());
  ASSERT_EQ(ok->approvals.size(), 2u);
  EXPECT_EQ(ok->approvals[0], "brand: ops@brand.example at 2026-01-01T00:04:00Z");
  EXPECT_EQ(ok->approvals[1], "partner: coo@partner.example at 2026-01-01T00:03:00Z");
  auto with_key = verify_agreement(doc, key->public_key_pem());
  EXPECT_TRUE(with_key) << with_key.error();

  // Signed by another installation's key: valid on its own, refused against ours.
  auto other = SigningKey::load_or_create(dir / "other.pem");
  ASSERT_TRUE(other);
  auto wrong = verify_agreement(doc, other->public_key_pem());
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().find("not by the expected key " + other->key_id()), std::string::npos) << wrong.error();
  EXPECT_FALSE(verify_agreement(doc, std::string("not a key")));

  // The signature of one record on another (a re-signed body keeps its value otherwise).
  json swapped = parsed;
  swapped["signature"]["public_key"] = other->public_key_pem();
  swapped["signature"]["key_id"] = other->key_id();
  auto r = verify_agreement(swapped.dump(2), std::nullopt);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("the signature does not match the record"), std::string::npos) << r.error();
}

TEST(AgreementRecord, RefusesMalformedDocumentsWithoutThrowing) {
  for (const char* doc : {"", "{", "[]", "null", "{\"record\": {}}", "{\"record\": 1, \"signature\": {}}",
                          "{\"record\": {\"format\": \"pactwatch-agreement/1\"}, \"signature\": {\"algorithm\": \"RSA\"}}",
                          "{\"record\": {\"format\": \"x\"}, \"signature\": {}}", "\xff\xfe"}) {
    auto r = verify_agreement(doc, std::nullopt);
    EXPECT_FALSE(r) << doc;
    if (!r) {
      EXPECT_FALSE(r.error().empty());
    }
  }
  EXPECT_EQ(verify_agreement("{\"record\": {}}", std::nullopt).error(), "signature is missing");
}

// Every string or number in the record, and the signature's value, changed by one byte: refused.
TEST(AgreementRecord, AnyOneByteChangeIsRefused) {
  testutils::TempDir dir;
  const auto w = agreed_examples(dir / "rules");
  auto body = agreement_record(*w.v, w.acts, kIssued);
  ASSERT_TRUE(body) << body.error();
  auto key = SigningKey::load_or_create(dir / "k.pem");
  ASSERT_TRUE(key);
  const json doc = json::parse(signed_agreement(*body, *key));

  // Every leaf of the record, and the signature's value, by JSON pointer.
  std::vector<json::json_pointer> leaves{json::json_pointer("/signature/value")};
  const json flat = doc["record"].flatten();
  for (const auto& [pointer, value] : flat.items()) {
    if (value.is_string() || value.is_number()) leaves.emplace_back("/record" + pointer);
  }
  ASSERT_GT(leaves.size(), 30u);

  std::mt19937 rng(21);
  for (int i = 0; i < 200; ++i) {
    json changed = doc;
    const auto& where = leaves[rng() % leaves.size()];
    json& leaf = changed[where];
    if (leaf.is_number()) {
      leaf = leaf.get<std::int64_t>() + 1 + static_cast<std::int64_t>(rng() % 5);
    } else {
      std::string s = leaf.get<std::string>();
      if (s.empty()) {
        s = "x";
      } else {
        const std::size_t at = rng() % s.size();
        char c = s[at];
        while (c == s[at]) c = static_cast<char>(0x21 + rng() % 94);  // another printable ASCII character
        s[at] = c;
      }
      leaf = s;
    }
    const std::string text = changed.dump(2, ' ', false, json::error_handler_t::replace);
    auto r = verify_agreement(text, key->public_key_pem());
    EXPECT_FALSE(r) << "changing " << where.to_string() << " went unnoticed";
    if (!r) {
      EXPECT_FALSE(r.error().empty());
    }
  }
}

TEST(AgreementRecord, ChecksTheCanonicalTextAndTheApprovalsOfWhatTheInstallationSigned) {
  testutils::TempDir dir;
  const auto w = agreed_examples(dir / "rules");
  auto key = SigningKey::load_or_create(dir / "k.pem");
  ASSERT_TRUE(key);
  auto body = agreement_record(*w.v, w.acts, kIssued);
  ASSERT_TRUE(body);
  // A record that is signed but inconsistent (only a broken signer makes one) is still refused.
  json bad = *body;
  bad["canonical"] = bad["canonical"].get<std::string>() + " ";
  auto r = verify_agreement(signed_agreement(bad, *key), std::nullopt);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("record.canonical hashes to"), std::string::npos) << r.error();
  bad = *body;
  bad["approvals"][1]["sha256"] = std::string(64, 'a');
  r = verify_agreement(signed_agreement(bad, *key), std::nullopt);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("record.approvals[1] (partner) approves aaaa"), std::string::npos) << r.error();
  bad = *body;
  bad["approvals"][1] = bad["approvals"][0];
  r = verify_agreement(signed_agreement(bad, *key), std::nullopt);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("exactly one brand and one partner approval"), std::string::npos) << r.error();
}

// A JSON parser keeps one of two equal keys, so a forged value placed beside the signed one could
// be shown to a reader while the signed one is checked; and content outside the record is
// unsigned. Both are refused (the hostile review's repro: a second "record", a second "sha256",
// a top-level "summary").
TEST(AgreementRecord, DuplicateKeysAndUnsignedContentAreRefused) {
  testutils::TempDir dir;
  const auto w = agreed_examples(dir / "rules");
  auto body = agreement_record(*w.v, w.acts, kIssued);
  ASSERT_TRUE(body) << body.error();
  auto key = SigningKey::load_or_create(dir / "k.pem");
  ASSERT_TRUE(key) << key.error();
  const std::string doc = signed_agreement(*body, *key);
  ASSERT_TRUE(verify_agreement(doc, key->public_key_pem()));
  auto refused = [&](const std::string& text, const std::string& why) {
    auto r = verify_agreement(text, key->public_key_pem());
    ASSERT_FALSE(r) << why;
    EXPECT_NE(r.error().find(why), std::string::npos) << r.error();
  };
  const auto at = doc.find('{') + 1;
  refused(doc.substr(0, at) + R"("record": {"format": "pactwatch-agreement/1", "sha256": "ffff"},)" + doc.substr(at), "appears twice");
  const auto rec = doc.find("\"record\": {") + std::string("\"record\": {").size();
  refused(doc.substr(0, rec) + R"("sha256": "ffff", )" + doc.substr(rec), "appears twice");
  refused(doc.substr(0, at) + R"("summary": {"note": "credits waived"},)" + doc.substr(at), "not part of an agreement record");
}

TEST(AgreementRecord, OnlyForAnAgreedVersionWhoseFileIsUnchanged) {
  testutils::TempDir dir;
  auto half = agreed_examples(dir / "half", false);
  auto r = agreement_record(*half.v, half.acts, kIssued);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("northwind-support v3 is not agreed (it is approved_by_partner)"), std::string::npos) << r.error();

  auto unread = agreed_examples(dir / "unread");
  rules::ContractVersion no_agreement = *unread.v;
  no_agreement.agreement.reset();
  EXPECT_FALSE(agreement_record(no_agreement, unread.acts, kIssued));

  auto w = agreed_examples(dir / "full");
  ASSERT_TRUE(agreement_record(*w.v, w.acts, kIssued));
  {
    std::string text = testutils::read_file(w.v->file);
    text.replace(text.find("description: Northwind"), 22, "description: Southwind");
    std::ofstream(w.v->file, std::ios::trunc) << text;
  }
  r = agreement_record(*w.v, w.acts, kIssued);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("changed since the rules were loaded"), std::string::npos) << r.error();
  fs::remove(w.v->file);
  r = agreement_record(*w.v, w.acts, kIssued);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("cannot be read"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace pactwatch::ledger
