// A port of the matcher in Lua's lstrlib.c (MIT licence), reduced to "does it match".
#include "pluginserver/lua_pattern.h"

#include <cctype>
#include <cstring>
#include <stdexcept>
#include <string>

namespace gh::pluginserver {

namespace {

constexpr char kEsc = '%';
constexpr int kMaxCaptures = 32;
constexpr long kUnfinished = -1;
constexpr long kPosition = -2;

struct MatchState {
  const char* src_init;
  const char* src_end;
  const char* p_end;  // points at the pattern's terminating '\0'
  int level = 0;
  int depth = 200;
  struct {
    const char* init;
    long len;
  } capture[kMaxCaptures];
};

[[noreturn]] void malformed(const char* why) {
  throw std::runtime_error(std::string("malformed pattern (") + why + ")");
}

const char* class_end(MatchState& ms, const char* p) {
  if (*p++ == kEsc) {
    if (p == ms.p_end) malformed("ends with '%'");
    return p + 1;
  }
  if (*(p - 1) == '[') {
    if (*p == '^') p++;
    do {
      if (p == ms.p_end) malformed("missing ']'");
      if (*(p++) == kEsc && p < ms.p_end) p++;
    } while (*p != ']');
    return p + 1;
  }
  return p;
}

bool match_class(int c, int cl) {
  bool res;
  switch (std::tolower(cl)) {
    case 'a':
      res = std::isalpha(c);
      break;
    case 'c':
      res = std::iscntrl(c);
      break;
    case 'd':
      res = std::isdigit(c);
      break;
    case 'g':
      res = std::isgraph(c);
      break;
    case 'l':
      res = std::islower(c);
      break;
    case 'p':
      res = std::ispunct(c);
      break;
    case 's':
      res = std::isspace(c);
      break;
    case 'u':
      res = std::isupper(c);
      break;
    case 'w':
      res = std::isalnum(c);
      break;
    case 'x':
      res = std::isxdigit(c);
      break;
    default:
      return cl == c;
  }
  return std::isupper(cl) ? !res : res;
}

bool match_bracket_class(int c, const char* p, const char* ec) {
  bool sig = true;
  if (*(p + 1) == '^') {
    sig = false;
    p++;
  }
  while (++p < ec) {
    if (*p == kEsc) {
      p++;
      if (match_class(c, static_cast<unsigned char>(*p))) return sig;
    } else if (*(p + 1) == '-' && p + 2 < ec) {
      p += 2;
      if (static_cast<unsigned char>(*(p - 2)) <= c && c <= static_cast<unsigned char>(*p)) return sig;
    } else if (static_cast<unsigned char>(*p) == c) {
      return sig;
    }
  }
  return !sig;
}

bool single_match(MatchState& ms, const char* s, const char* p, const char* ep) {
  if (s >= ms.src_end) return false;
  int c = static_cast<unsigned char>(*s);
  switch (*p) {
    case '.':
      return true;
    case kEsc:
      return match_class(c, static_cast<unsigned char>(*(p + 1)));
    case '[':
      return match_bracket_class(c, p, ep - 1);
    default:
      return static_cast<unsigned char>(*p) == c;
  }
}

const char* match(MatchState& ms, const char* s, const char* p);

const char* match_balance(MatchState& ms, const char* s, const char* p) {
  if (p >= ms.p_end - 1) malformed("missing arguments to '%b'");
  if (s >= ms.src_end || *s != *p) return nullptr;
  int b = *p, e = *(p + 1), cont = 1;
  while (++s < ms.src_end) {
    if (*s == e) {
      if (--cont == 0) return s + 1;
    } else if (*s == b) {
      cont++;
    }
  }
  return nullptr;
}

const char* max_expand(MatchState& ms, const char* s, const char* p, const char* ep) {
  long i = 0;
  while (single_match(ms, s + i, p, ep)) i++;
  for (; i >= 0; i--)
    if (const char* res = match(ms, s + i, ep + 1)) return res;
  return nullptr;
}

const char* min_expand(MatchState& ms, const char* s, const char* p, const char* ep) {
  for (;;) {
    if (const char* res = match(ms, s, ep + 1)) return res;
    if (!single_match(ms, s, p, ep)) return nullptr;
    s++;
  }
}

const char* start_capture(MatchState& ms, const char* s, const char* p, long what) {
  if (ms.level >= kMaxCaptures) malformed("too many captures");
  ms.capture[ms.level].init = s;
  ms.capture[ms.level].len = what;
  ms.level++;
  const char* res = match(ms, s, p);
  if (!res) ms.level--;
  return res;
}

const char* end_capture(MatchState& ms, const char* s, const char* p) {
  int l = -1;
  for (int i = ms.level - 1; i >= 0; i--)
    if (ms.capture[i].len == kUnfinished) {
      l = i;
      break;
    }
  if (l < 0) malformed("invalid pattern capture");
  ms.capture[l].len = s - ms.capture[l].init;
  const char* res = match(ms, s, p);
  if (!res) ms.capture[l].len = kUnfinished;
  return res;
}

const char* match_capture(MatchState& ms, const char* s, int l) {
  l -= '1';
  if (l < 0 || l >= ms.level || ms.capture[l].len == kUnfinished) malformed("invalid capture index");
  long len = ms.capture[l].len == kPosition ? 0 : ms.capture[l].len;
  if (ms.src_end - s >= len && std::memcmp(ms.capture[l].init, s, len) == 0) return s + len;
  return nullptr;
}

const char* match(MatchState& ms, const char* s, const char* p) {
  if (ms.depth-- == 0) malformed("pattern too complex");
  while (true) {
    if (p == ms.p_end) break;
    if (*p == '(') {
      s = *(p + 1) == ')' ? start_capture(ms, s, p + 2, kPosition) : start_capture(ms, s, p + 1, kUnfinished);
      break;
    }
    if (*p == ')') {
      s = end_capture(ms, s, p + 1);
      break;
    }
    if (*p == '$' && p + 1 == ms.p_end) {
      s = (s == ms.src_end) ? s : nullptr;
      break;
    }
    if (*p == kEsc && *(p + 1) == 'b') {
      s = match_balance(ms, s, p + 2);
      if (!s) break;
      p += 4;
      continue;
    }
    if (*p == kEsc && *(p + 1) == 'f') {
      p += 2;
      if (*p != '[') malformed("missing '[' after '%f' in pattern");
      const char* ep = class_end(ms, p);
      int previous = (s == ms.src_init) ? '\0' : static_cast<unsigned char>(*(s - 1));
      int current = (s < ms.src_end) ? static_cast<unsigned char>(*s) : '\0';
      if (!match_bracket_class(previous, p, ep - 1) && match_bracket_class(current, p, ep - 1)) {
        p = ep;
        continue;
      }
      s = nullptr;
      break;
    }
    if (*p == kEsc && std::isdigit(static_cast<unsigned char>(*(p + 1)))) {
      s = match_capture(ms, s, static_cast<unsigned char>(*(p + 1)));
      if (!s) break;
      p += 2;
      continue;
    }
    const char* ep = class_end(ms, p);
    if (!single_match(ms, s, p, ep)) {
      if (*ep == '*' || *ep == '?' || *ep == '-') {
        p = ep + 1;
        continue;
      }
      s = nullptr;
      break;
    }
    if (*ep == '?') {
      if (const char* res = match(ms, s + 1, ep + 1)) {
        s = res;
        break;
      }
      p = ep + 1;
      continue;
    }
    if (*ep == '+') {
      s = max_expand(ms, s + 1, p, ep);
      break;
    }
    if (*ep == '*') {
      s = max_expand(ms, s, p, ep);
      break;
    }
    if (*ep == '-') {
      s = min_expand(ms, s, p, ep);
      break;
    }
    s++;
    p = ep;
  }
  ms.depth++;
  return s;
}

}  // namespace

bool lua_find(std::string_view subject, std::string_view pattern_view) {
  const std::string pattern(pattern_view);  // NUL-terminated: the matcher peeks one past the end
  const char* p = pattern.c_str();
  bool anchor = *p == '^';
  if (anchor) p++;
  MatchState ms{
      subject.data(), subject.data() + subject.size(), pattern.c_str() + pattern.size(), 0, 200, {}};
  const char* s = subject.data();
  do {
    ms.level = 0;
    ms.depth = 200;
    if (match(ms, s, p)) return true;
  } while (s++ < ms.src_end && !anchor);
  return false;
}

}  // namespace gh::pluginserver
