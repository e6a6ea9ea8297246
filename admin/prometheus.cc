#include "admin/prometheus.h"

#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace tern::admin {
namespace {

void AppendEscaped(std::string& out, std::string_view s, bool quotes) {
  for (char c : s) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '"':
        if (quotes) {
          out += "\\\"";
          break;
        }
        [[fallthrough]];
      default:
        out += c;
    }
  }
}

void AppendValue(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else if (v == std::floor(v) && std::fabs(v) < 9.0e15) {
    absl::StrAppend(&out, static_cast<int64_t>(v));
  } else {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    out += buf;
  }
}

}  // namespace

void PrometheusWriter::Family(std::string_view name, std::string_view help,
                              Type type) {
  family_ = absl::StrCat("tern_", ToAbsl(name));
  out_ += "# HELP ";
  out_ += family_;
  if (type == Type::kCounter) out_ += "_total";
  out_ += ' ';
  AppendEscaped(out_, help, /*quotes=*/false);
  out_ += "\n# TYPE ";
  out_ += family_;
  if (type == Type::kCounter) {
    out_ += "_total counter\n";
    family_ += "_total";
  } else {
    out_ += " gauge\n";
  }
}

void PrometheusWriter::Sample(std::initializer_list<Label> labels,
                              double value) {
  out_ += family_;
  if (labels.size() > 0) {
    out_ += '{';
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) out_ += ',';
      first = false;
      out_ += k;
      out_ += "=\"";
      AppendEscaped(out_, v, /*quotes=*/true);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  AppendValue(out_, value);
  out_ += '\n';
}

void PrometheusWriter::Counter(std::string_view name, std::string_view help,
                               uint64_t value) {
  Family(name, help, Type::kCounter);
  Sample(static_cast<double>(value));
}

void PrometheusWriter::Gauge(std::string_view name, std::string_view help,
                             double value) {
  Family(name, help, Type::kGauge);
  Sample(value);
}

void PrometheusWriter::Histogram(std::string_view name, std::string_view help,
                                 std::span<const double> bounds,
                                 std::span<const uint64_t> cumulative,
                                 double sum) {
  const std::string base = absl::StrCat("tern_", ToAbsl(name));
  out_ += "# HELP ";
  out_ += base;
  out_ += ' ';
  AppendEscaped(out_, help, /*quotes=*/false);
  absl::StrAppend(&out_, "\n# TYPE ", base, " histogram\n");
  for (size_t i = 0; i <= bounds.size() && i < cumulative.size(); ++i) {
    absl::StrAppend(&out_, base, "_bucket{le=\"");
    if (i < bounds.size()) {
      AppendValue(out_, bounds[i]);
    } else {
      out_ += "+Inf";
    }
    out_ += "\"} ";
    AppendValue(out_, static_cast<double>(cumulative[i]));
    out_ += '\n';
  }
  absl::StrAppend(&out_, base, "_sum ");
  AppendValue(out_, sum);
  absl::StrAppend(&out_, "\n", base, "_count ");
  AppendValue(
      out_, cumulative.empty() ? 0.0 : static_cast<double>(cumulative.back()));
  out_ += '\n';
  family_.clear();
}

}  // namespace tern::admin
