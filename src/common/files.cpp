#include "common/files.h"

#include <fstream>

namespace gh {

FileText read_file_at_most(const std::string& path, size_t limit) {
  FileText file;
  std::ifstream in(path, std::ios::binary);
  if (!in) return file;
  char chunk[64 * 1024];
  while (file.text.size() <= limit && in.read(chunk, sizeof chunk).gcount() > 0)
    file.text.append(chunk, static_cast<size_t>(in.gcount()));
  if (file.text.size() > limit) {
    file.status = FileText::Status::too_large;
    file.text.clear();
    return file;
  }
  file.status = FileText::Status::read;
  return file;
}

}  // namespace gh
