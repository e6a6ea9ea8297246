#include "backend/ui/html.h"

#include <algorithm>
#include <ctime>

#include "common/utf8.h"

namespace tern::ui {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

}  // namespace

void AppendEscaped(std::string* out, std::string_view text) {
  out->reserve(out->size() + text.size());
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      const size_t n = Utf8SequenceLength(text.substr(i));
      if (n == 0) {
        out->append(kReplacement);
        ++i;
      } else {
        out->append(text.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '&':
        out->append("&amp;");
        break;
      case '<':
        out->append("&lt;");
        break;
      case '>':
        out->append("&gt;");
        break;
      case '"':
        out->append("&quot;");
        break;
      case '\'':
        out->append("&#39;");
        break;
      case '\t':
      case '\n':
      case '\r':
        out->push_back(c);
        break;
      default:
        if (u < 0x20 || u == 0x7F) {
          out->append(kReplacement);
        } else {
          out->push_back(c);
        }
    }
    ++i;
  }
}

std::string Escape(std::string_view text) {
  std::string out;
  AppendEscaped(&out, text);
  return out;
}

std::string Truncate(std::string_view text, size_t max_chars) {
  size_t chars = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (chars == max_chars) {
      return std::string(text.substr(0, i)) + "\xE2\x80\xA6";  // U+2026
    }
    const size_t n = Utf8SequenceLength(text.substr(i));
    i += n == 0 ? 1 : n;
    ++chars;
  }
  return std::string(text);
}

std::string Ago(int64_t then_ms, int64_t now_ms) {
  const int64_t s = (now_ms - then_ms) / 1000;
  if (s < 1) return "just now";
  if (s < 60) return Cat(s, "s ago");
  if (s < 3600) return Cat(s / 60, "m ago");
  if (s < 86400) return Cat(s / 3600, "h ago");
  return Cat(s / 86400, "d ago");
}

std::string FormatUtc(int64_t ms) {
  const time_t t = static_cast<time_t>(ms >= 0 ? ms / 1000 : 0);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[40];
  const size_t n = strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return std::string(buf, n);
}

std::string Sparkline(std::span<const int64_t> counts, int width, int height,
                      std::string_view period) {
  int64_t max = 0;
  int64_t total = 0;
  for (int64_t c : counts) {
    max = std::max(max, c);
    total += c;
  }
  std::string out = Cat(
      "<svg class=\"spark\" width=\"", width, "\" height=\"", height,
      "\" viewBox=\"0 0 ", width, " ", height, "\" role=\"img\"><title>", total,
      " event", total == 1 ? "" : "s", " in ", Escape(period), "</title>");
  if (!counts.empty()) {
    const double bar = static_cast<double>(width) / counts.size();
    for (size_t i = 0; i < counts.size(); ++i) {
      if (counts[i] <= 0) continue;
      // At least one pixel high, so a single event shows.
      const int h = std::max<int>(
          1, static_cast<int>(static_cast<double>(counts[i]) * height / max));
      char x[32];
      snprintf(x, sizeof(x), "%.1f", bar * i);
      char w[32];
      snprintf(w, sizeof(w), "%.1f", std::max(bar - 1, 1.0));
      Append(&out, "<rect x=\"", x, "\" y=\"", height - h, "\" width=\"", w,
             "\" height=\"", h, "\"/>");
    }
  }
  out.append("</svg>");
  return out;
}

}  // namespace tern::ui
