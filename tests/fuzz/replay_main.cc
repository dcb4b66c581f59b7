// A driver for the fuzz targets when they are built with GCC (make test): runs every file of the
// given corpus directories through the target, then a bounded number of seeded random mutations
// of them (byte flips, truncations, splices, duplicated spans). Coverage-guided fuzzing of the same
// targets is `make fuzz` (clang + libFuzzer).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

void run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
}

std::string mutate(std::string s, const std::vector<std::string>& corpus, std::mt19937_64& rng) {
  const int steps = 1 + static_cast<int>(rng() % 4);
  for (int k = 0; k < steps; ++k) {
    const std::size_t n = s.size();
    switch (rng() % 6) {
      case 0:
        if (n) s[rng() % n] = static_cast<char>(rng() % 256);
        break;
      case 1:
        if (n) s.resize(rng() % n);
        break;
      case 2: {
        const auto& other = corpus[rng() % corpus.size()];
        if (!other.empty()) s.insert(n ? rng() % n : 0, other.substr(rng() % other.size(), 1 + rng() % 16));
        break;
      }
      case 3:
        if (n) {
          const std::size_t at = rng() % n;
          s.insert(at, s.substr(at, 1 + rng() % 8));
        }
        break;
      case 4: {
        static const char* tokens[] = {":", "-", "\n", "[", "]", "{", "}", "24:00", "00:00", "9999", "-1", "\"",
                                       "\t", "BEGIN:VEVENT\n", "END:VEVENT\n", "\r\n ", "2026-02-29", "%", "."};
        s.insert(n ? rng() % n : 0, tokens[rng() % std::size(tokens)]);
        break;
      }
      default:
        if (n) s.erase(rng() % n, 1 + rng() % 8);
        break;
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> corpus;
  long mutations = 0;
  std::uint64_t seed = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--mutations=", 0) == 0) {
      mutations = std::strtol(arg.c_str() + 12, nullptr, 10);
    } else if (arg.rfind("--seed=", 0) == 0) {
      seed = std::strtoull(arg.c_str() + 7, nullptr, 10);
    } else {
      std::vector<std::filesystem::path> files;
      if (std::filesystem::is_directory(arg)) {
        for (const auto& e : std::filesystem::directory_iterator(arg)) files.push_back(e.path());
      } else {
        files.emplace_back(arg);
      }
      std::sort(files.begin(), files.end());
      for (const auto& f : files) {
        std::ifstream in(f, std::ios::binary);
        std::ostringstream s;
        s << in.rdbuf();
        corpus.push_back(s.str());
      }
    }
  }
  if (corpus.empty()) {
    std::cerr << "no corpus files given\n";
    return 2;
  }
  for (const auto& c : corpus) run(c);
  std::mt19937_64 rng(seed);
  for (long i = 0; i < mutations; ++i) run(mutate(corpus[rng() % corpus.size()], corpus, rng));
  std::cout << corpus.size() << " corpus inputs and " << mutations << " mutations (seed " << seed << "): no crash\n";
  return 0;
}
