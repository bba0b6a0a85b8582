// Writes the damaged model files that the CLI tests feed to `longctx info` (into argv[1]).
#include <cstdio>
#include <fstream>
#include <string>

#include "tests/gguf_builder.h"

namespace {
void write(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), long(bytes.size()));
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 1;
  std::string dir = argv[1];
  auto good = longctx::test::rich_gguf();
  write(dir + "/good.gguf", good);
  write(dir + "/truncated.gguf", std::vector<uint8_t>(good.begin(), good.begin() + 700));
  auto bad_magic = good;
  bad_magic[0] = 'g';
  write(dir + "/bad_magic.gguf", bad_magic);
  write(dir + "/empty.gguf", {});
  longctx::test::GgufBuilder phi;
  phi.kv_string("general.architecture", "phi3");
  write(dir + "/unknown_arch.gguf", phi.build());
  return 0;
}
