// A PCRE2 pattern compiled once (JIT when available) and shared by all
// threads, for the few grouping rules that need more than string functions
// (message parameterization, native function-name cleanups).
//
// Patterns follow Python's `re` as Sentry writes them: UTF mode with Unicode
// properties (\d, \w, \b, \s are Unicode-aware, as in Python 3), and subjects
// that are not valid UTF-8 are matched as far as they are valid instead of
// being rejected.
#ifndef TERN_BACKEND_GROUPING_REGEX_H_
#define TERN_BACKEND_GROUPING_REGEX_H_

#include <functional>
#include <span>
#include <string>
#include <string_view>

struct pcre2_real_code_8;

namespace tern::grouping {

class Regex {
 public:
  // Compiles `pattern` with `extended` = Python's (?x). Aborts on a bad
  // pattern: every pattern is a compile-time constant of this module.
  explicit Regex(std::string_view pattern, bool extended = false);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // True if the pattern matches somewhere in `subject` (anchored at 0 when
  // `anchored`, like Python's re.match).
  bool Search(std::string_view subject, bool anchored = false) const;

  // Python's re.sub: every non-overlapping match, left to right, is replaced
  // by `replace(match, group_index_of_first_set_named_group)`. `named_group`
  // is the number of the first capture group (1-based, in `groups` order)
  // that participated, or 0. `groups` lists capture numbers to test.
  using Replacer =
      std::function<void(std::string_view match, int which, std::string* out)>;
  std::string Replace(std::string_view subject, const Replacer& replace,
                      std::span<const int> groups = {}) const;

  // Replace with a fixed text; `$1` in `replacement` is capture group 1.
  std::string ReplaceAll(std::string_view subject,
                         std::string_view replacement) const;

  // Capture group number of a named group (for Replace's `groups`).
  int GroupNumber(const char* name) const;

 private:
  pcre2_real_code_8* code_;
};

}  // namespace tern::grouping

#endif  // TERN_BACKEND_GROUPING_REGEX_H_
