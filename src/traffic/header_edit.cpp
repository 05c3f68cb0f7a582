#include "traffic/header_edit.h"

namespace gh::traffic {

void apply(const HeaderEdits& edits, http::Headers& headers) {
  for (const auto& e : edits) {
    switch (e.op) {
      case HeaderEdit::Op::set:
        headers.set(e.name, e.value);
        break;
      case HeaderEdit::Op::add:
        headers.add(e.name, e.value);
        break;
      case HeaderEdit::Op::clear:
        headers.remove(e.name);
        break;
    }
  }
}

}  // namespace gh::traffic
