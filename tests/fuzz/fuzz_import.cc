// Fuzz target: the NDJSON and CSV importers for every item kind.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pactwatch/sources/import.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pactwatch::sources;
  static const std::vector<pactwatch::rules::PartnerDef> partners = [] {
    pactwatch::rules::PartnerDef p;
    p.id = "northwind";
    p.external_ids["import"] = {"1"};
    p.external_ids["tag"] = {"nw"};
    return std::vector<pactwatch::rules::PartnerDef>{p};
  }();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const char* kind : {"tickets", "deals", "surveys", "events"}) {
    for (auto format : {ImportFormat::ndjson, ImportFormat::csv}) {
      ImportOptions o;
      o.kind = kind;
      o.format = format;
      (void)parse_import(text, "fuzz", o, partners);
    }
  }
  return 0;
}
