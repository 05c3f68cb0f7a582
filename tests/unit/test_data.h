// Where the unit tests find their recorded data: tests/data/ of this repository (PROVENANCE.md there
// says where each file came from). A missing file throws: a test that cannot read its data fails,
// it never passes or skips. Transcript lists are spelled out rather than read from a directory, so a
// missing transcript fails its own test instead of silently shrinking a parameter set.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace gh::test {

inline std::filesystem::path data_dir() {
  return std::filesystem::path(GATEHOUSE_TEST_DATA_DIR);
}

inline std::filesystem::path conformance_dir() {
  return data_dir() / "conformance";
}

// The file's bytes; throws when it cannot be read.
inline std::string read_data_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error("test data missing: " + path.string() + " (see tests/data/PROVENANCE.md)");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline std::string read_conformance_file(const std::string& name) {
  return read_data_file(conformance_dir() / name);
}

// The seven recorded scenarios of every server (tests/data/conformance/README.md).
inline const std::vector<std::string>& conformance_scenarios() {
  static const std::vector<std::string> scenarios = {"rewrite", "access", "response",     "log",
                                                     "exit",    "error",  "close-restart"};
  return scenarios;
}

// "<prefix><scenario>.jsonl" for each prefix ("go-pb-", "js-mp-", "py-mp-") and scenario, sorted.
inline std::vector<std::string> conformance_transcripts(std::initializer_list<const char*> prefixes) {
  std::vector<std::string> names;
  for (const char* prefix : prefixes)
    for (const auto& scenario : conformance_scenarios()) names.push_back(prefix + scenario + ".jsonl");
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace gh::test
