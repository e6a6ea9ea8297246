// The web UI's HTML building blocks: escaping, URL building, time and number
// formatting, and the inline SVG sparkline.
//
// Everything an event carries is hostile input (an SDK can send any bytes in
// any field), so every value that did not come from this file's own literal
// text goes through Escape() (element text and double-quoted attribute
// values) or a URL builder that escapes too. Nothing here emits a value
// unquoted, and no value ever lands inside <script> or <style>.
#ifndef TERN_BACKEND_UI_HTML_H_
#define TERN_BACKEND_UI_HTML_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace tern::ui {

// absl::StrCat for this module: Debian's abseil does not take
// std::string_view, and the pages pass views everywhere. Parts are views
// (or convertible to one) or integers.
template <typename T>
void AppendPart(std::string* out, const T& part) {
  if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    out->append(std::string_view(part));
  } else {
    static_assert(std::is_integral_v<T>, "Cat takes strings and integers");
    out->append(std::to_string(part));
  }
}
template <typename... T>
void Append(std::string* out, const T&... parts) {
  (AppendPart(out, parts), ...);
}
template <typename... T>
std::string Cat(const T&... parts) {
  std::string out;
  Append(&out, parts...);
  return out;
}

// `text` with & < > " ' replaced by entities, safe in element text and in a
// quoted attribute value. Bytes that are not valid UTF-8 become U+FFFD, and
// control characters other than tab, newline and carriage return (which
// browsers would show as garbage or which break copy and paste) become
// U+FFFD too; the output is always valid UTF-8.
std::string Escape(std::string_view text);
// Appends Escape(text) to *out.
void AppendEscaped(std::string* out, std::string_view text);

// `text` truncated to at most `max_chars` code points (an ellipsis is added
// when it was cut), not escaped.
std::string Truncate(std::string_view text, size_t max_chars);

// "12s ago", "5m ago", "3h ago", "2d ago" from two unix-ms times; "just now"
// within a second and for a future time (clock skew).
std::string Ago(int64_t then_ms, int64_t now_ms);

// "2026-11-21 21:05:00 UTC".
std::string FormatUtc(int64_t ms);

// An inline <svg> bar chart of `counts` (oldest first), `width` x `height`
// pixels, with a <title> naming the total and `period` ("24h", "14d").
// Counts are numbers we computed, so nothing in it needs escaping but the
// period, which is escaped anyway.
std::string Sparkline(std::span<const int64_t> counts, int width, int height,
                      std::string_view period);

}  // namespace tern::ui

#endif  // TERN_BACKEND_UI_HTML_H_
