// Reading a file an operator names (a declarative configuration, a certificate) without trusting
// its size: a path to /dev/zero, to a log that keeps growing or to a multi-gigabyte file is
// refused once it is past the limit, never read whole into memory.
#pragma once

#include <cstddef>
#include <string>

namespace gh {

struct FileText {
  enum class Status { read, cannot_open, too_large };
  Status status = Status::cannot_open;
  std::string text;  // the whole file, when read
};

// Reads `path` whole if it holds at most `limit` bytes; at most limit + 1 bytes are ever read.
FileText read_file_at_most(const std::string& path, size_t limit);

}  // namespace gh
