#include "backend/grouping/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cstdio>
#include <cstdlib>

namespace tern::grouping {
namespace {

// One match-data block per thread, large enough for every pattern here, so
// matching allocates nothing.
pcre2_match_data* ThreadMatchData() {
  struct Holder {
    pcre2_match_data* data = pcre2_match_data_create(128, nullptr);
    ~Holder() { pcre2_match_data_free(data); }
  };
  thread_local Holder holder;
  return holder.data;
}

size_t Utf8Step(std::string_view s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  return std::min(n, s.size() - i);
}

}  // namespace

Regex::Regex(std::string_view pattern, bool extended) {
  uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;
  if (extended) options |= PCRE2_EXTENDED;
  int error = 0;
  PCRE2_SIZE offset = 0;
  code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()),
                        pattern.size(), options, &error, &offset, nullptr);
  if (code_ == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    std::fprintf(stderr, "grouping: bad regex at %zu: %s\n",
                 static_cast<size_t>(offset), message);
    std::abort();
  }
  // JIT is an optimisation only; the interpreter is used when it fails.
  pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);
}

Regex::~Regex() { pcre2_code_free(code_); }

bool Regex::Search(std::string_view subject, bool anchored) const {
  pcre2_match_data* md = ThreadMatchData();
  int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(subject.data()),
                       subject.size(), 0, anchored ? PCRE2_ANCHORED : 0, md,
                       nullptr);
  return rc >= 0;
}

int Regex::GroupNumber(const char* name) const {
  return pcre2_substring_number_from_name(code_,
                                          reinterpret_cast<PCRE2_SPTR>(name));
}

std::string Regex::Replace(std::string_view subject, const Replacer& replace,
                           std::span<const int> groups) const {
  pcre2_match_data* md = ThreadMatchData();
  std::string out;
  size_t pos = 0;  // next byte of subject not yet copied
  size_t start = 0;
  while (start <= subject.size()) {
    int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(subject.data()),
                         subject.size(), start, 0, md, nullptr);
    if (rc < 0) break;
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    size_t ms = ov[0], me = ov[1];
    if (ms > me || me > subject.size()) break;  // \K tricks; not used here
    out.append(subject.substr(pos, ms - pos));
    int which = 0;
    for (size_t g = 0; g < groups.size(); ++g) {
      int n = groups[g];
      if (n > 0 && n < rc && ov[2 * n] != PCRE2_UNSET) {
        which = static_cast<int>(g) + 1;
        break;
      }
    }
    replace(subject.substr(ms, me - ms), which, &out);
    pos = me;
    if (me == ms) {  // empty match: step over one character, like re.sub
      if (me >= subject.size()) break;
      size_t step = Utf8Step(subject, me);
      out.append(subject.substr(me, step));
      pos = me + step;
      start = pos;
    } else {
      start = me;
    }
  }
  out.append(subject.substr(std::min(pos, subject.size())));
  return out;
}

std::string Regex::ReplaceAll(std::string_view subject,
                              std::string_view replacement) const {
  pcre2_match_data* md = ThreadMatchData();
  return Replace(subject, [&](std::string_view, int, std::string* out) {
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    for (size_t i = 0; i < replacement.size(); ++i) {
      if (replacement[i] == '$' && i + 1 < replacement.size() &&
          replacement[i + 1] >= '1' && replacement[i + 1] <= '9') {
        int n = replacement[i + 1] - '0';
        if (ov[2 * n] != PCRE2_UNSET) {
          out->append(subject.substr(ov[2 * n], ov[2 * n + 1] - ov[2 * n]));
        }
        ++i;
      } else {
        out->push_back(replacement[i]);
      }
    }
  });
}

}  // namespace tern::grouping
