#include "protocol/timestamp.h"

#include <cstdint>

namespace tern::protocol {
namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
// days_from_civil).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool IsLeapYear(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30,
                                       31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeapYear(y) ? 29 : kDays[m - 1];
}

// Reads exactly `n` digits at `*p` and advances past them; false if there
// are fewer.
bool Digits(const char** p, const char* end, int n, int* value) {
  if (end - *p < n) return false;
  int v = 0;
  for (int i = 0; i < n; ++i) {
    const unsigned d = static_cast<unsigned char>((*p)[i]) - '0';
    if (d > 9) return false;
    v = v * 10 + static_cast<int>(d);
  }
  *p += n;
  *value = v;
  return true;
}

// Consumes `c` at `*p`.
bool Expect(const char** p, const char* end, char c) {
  if (*p == end || **p != c) return false;
  ++*p;
  return true;
}

}  // namespace

std::optional<double> ParseRfc3339(std::string_view text) {
  const char* p = text.data();
  const char* end = p + text.size();
  int year, month, day, hour, minute, second;
  if (!Digits(&p, end, 4, &year) || !Expect(&p, end, '-') ||
      !Digits(&p, end, 2, &month) || !Expect(&p, end, '-') ||
      !Digits(&p, end, 2, &day) || p == end ||
      (*p != 'T' && *p != 't' && *p != ' ')) {
    return std::nullopt;
  }
  ++p;
  if (!Digits(&p, end, 2, &hour) || !Expect(&p, end, ':') ||
      !Digits(&p, end, 2, &minute) || !Expect(&p, end, ':') ||
      !Digits(&p, end, 2, &second)) {
    return std::nullopt;
  }
  // Second 60 is a leap second; it reads as the first second of the next
  // minute, as chrono does.
  if (month < 1 || month > 12 || day < 1 ||
      static_cast<unsigned>(day) > DaysInMonth(year, month) || hour > 23 ||
      minute > 59 || second > 60) {
    return std::nullopt;
  }
  int64_t nanos = 0;
  if (p != end && *p == '.') {
    ++p;
    const char* digits = p;
    int64_t scale = 100000000;
    while (p != end && static_cast<unsigned>(*p - '0') <= 9) {
      // Digits past nanoseconds cannot change a double near 1.7e9.
      nanos += (*p - '0') * scale;
      scale /= 10;
      ++p;
    }
    if (p == digits) return std::nullopt;
  }
  int64_t offset = 0;
  if (p != end) {
    if (*p == 'Z' || *p == 'z') {
      ++p;
    } else if (*p == '+' || *p == '-') {
      const int sign = *p++ == '-' ? -1 : 1;
      int oh, om;
      if (!Digits(&p, end, 2, &oh) || !Expect(&p, end, ':') ||
          !Digits(&p, end, 2, &om) || oh > 23 || om > 59) {
        return std::nullopt;
      }
      offset = sign * (oh * 3600 + om * 60);
    } else {
      return std::nullopt;
    }
    if (p != end) return std::nullopt;
  }
  const int64_t seconds = DaysFromCivil(year, month, day) * 86400 +
                          hour * 3600 + minute * 60 + second - offset;
  return static_cast<double>(seconds) + static_cast<double>(nanos) * 1e-9;
}

}  // namespace tern::protocol
