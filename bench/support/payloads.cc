#include "bench/support/payloads.h"

#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tests/support/samples.h"

namespace tern::bench {
namespace {

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "bench payloads: %s\n", what);
  std::abort();
}

// Samples are pretty-printed for humans; SDKs send compact JSON, and the
// difference matters for compression ratios, so whitespace outside strings
// goes.
std::string Minify(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  bool in_string = false;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < json.size()) {
        out.push_back(json[++i]);
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
      out.push_back(c);
    } else if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
      out.push_back(c);
    }
  }
  return out;
}

// A fixed-seed generator so every run produces the same bytes; the variety
// only needs to look like traffic, not be statistically good.
class Rng {
 public:
  uint32_t Next() {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>(state_ >> 33);
  }
  uint32_t Below(uint32_t n) { return Next() % n; }
  template <size_t N>
  const char* Pick(const char* const (&items)[N]) {
    return items[Below(N)];
  }

 private:
  uint64_t state_ = 0x7e4e5eed;
};

constexpr const char* kHosts[] = {"api.shop.example.com",
                                  "payments.internal.example.net",
                                  "cdn.example.org", "auth.example.com"};
constexpr const char* kResources[] = {"orders",   "customers", "carts",
                                      "invoices", "products",  "sessions"};
constexpr const char* kMethods[] = {"GET", "GET", "GET", "POST", "PUT"};
constexpr const char* kPages[] = {"/",
                                  "/checkout/cart",
                                  "/checkout/payment",
                                  "/account/orders",
                                  "/products/search",
                                  "/settings/profile"};
constexpr const char* kTables[] = {"orders", "order_items", "customers",
                                   "inventory", "audit_log"};
constexpr const char* kLoggers[] = {"app.billing", "app.checkout",
                                    "urllib3.connectionpool", "celery.worker"};
constexpr const char* kWords[] = {
    "retrying",   "request",  "for",      "customer",  "order",   "timeout",
    "after",      "cache",    "miss",     "on",        "key",     "session",
    "token",      "refresh",  "upstream", "returned",  "status",  "while",
    "processing", "payment",  "intent",   "webhook",   "the",     "queue",
    "worker",     "acquired", "lock",     "released",  "invoice", "pending",
    "scheduled",  "job",      "with",     "arguments", "user",    "id"};

std::string Breadcrumb(Rng& rng, int index, std::string_view http_category) {
  char ts[32];
  std::snprintf(ts, sizeof(ts), "%.3f", 1726558400.0 + index * 0.731);
  std::string crumb = "{\"timestamp\":";
  crumb += ts;
  switch (rng.Below(4)) {
    case 0: {
      const uint32_t status = rng.Below(10) == 0 ? 502 : 200;
      crumb += ",\"type\":\"http\",\"category\":\"";
      crumb += http_category;
      crumb += "\",\"data\":{";
      crumb += "\"method\":\"" + std::string(rng.Pick(kMethods)) + "\"";
      crumb += ",\"url\":\"https://" + std::string(rng.Pick(kHosts)) + "/v2/" +
               rng.Pick(kResources) + "/" +
               std::to_string(100000 + rng.Below(900000)) + "\"";
      crumb += ",\"status_code\":" + std::to_string(status);
      crumb +=
          status == 200 ? ",\"reason\":\"OK\"" : ",\"reason\":\"Bad Gateway\"";
      crumb += "},\"level\":\"info\"}";
      break;
    }
    case 1:
      crumb +=
          ",\"type\":\"navigation\",\"category\":\"navigation\",\"data\":{";
      crumb += "\"from\":\"" + std::string(rng.Pick(kPages)) + "\"";
      crumb += ",\"to\":\"" + std::string(rng.Pick(kPages)) + "\"}}";
      break;
    case 2: {
      const char* table = rng.Pick(kTables);
      crumb += ",\"type\":\"default\",\"category\":\"query\",\"message\":";
      crumb += "\"SELECT \\\"" + std::string(table) + "\\\".\\\"id\\\", \\\"" +
               table + "\\\".\\\"created_at\\\", \\\"" + table +
               "\\\".\\\"status\\\" FROM \\\"" + table + "\\\" WHERE \\\"" +
               table + "\\\".\\\"customer_id\\\" = %s ORDER BY \\\"" + table +
               "\\\".\\\"created_at\\\" DESC LIMIT 21\"";
      crumb += ",\"data\":{\"db.system\":\"postgresql\",\"duration_ms\":" +
               std::to_string(1 + rng.Below(40)) + "}}";
      break;
    }
    default: {
      crumb += ",\"type\":\"default\",\"category\":\"";
      crumb += rng.Pick(kLoggers);
      crumb += "\",\"level\":\"";
      crumb += rng.Below(3) == 0 ? "warning" : "info";
      crumb += "\",\"message\":\"";
      const uint32_t words = 5 + rng.Below(8);
      for (uint32_t w = 0; w < words; ++w) {
        if (w) crumb += ' ';
        crumb += rng.Pick(kWords);
      }
      crumb += ' ';
      crumb += std::to_string(rng.Below(100000));
      crumb += "\"}";
      break;
    }
  }
  return crumb;
}

// Log-like prose of exactly `n` bytes, JSON-safe (letters, digits, spaces).
std::string Prose(Rng& rng, size_t n) {
  std::string text;
  while (text.size() < n) {
    if (!text.empty()) text += ' ';
    text += rng.Pick(kWords);
    if (rng.Below(6) == 0) {
      text += ' ';
      text += std::to_string(rng.Below(10000));
    }
  }
  text.resize(n);
  if (!text.empty() && text.back() == ' ') text.back() = 'x';
  return text;
}

constexpr std::string_view kPythonSdk =
    ",\"sdk\":{\"name\":\"sentry.python\",\"version\":\"1.45.0\","
    "\"packages\":[{\"name\":\"pypi:sentry-sdk\",\"version\":\"1.45.0\"}],"
    "\"integrations\":[\"django\",\"celery\",\"redis\",\"logging\","
    "\"stdlib\",\"threading\"]}";
constexpr std::string_view kBrowserSdk =
    ",\"sdk\":{\"name\":\"sentry.javascript.browser\",\"version\":\"7.110.0\","
    "\"packages\":[{\"name\":\"npm:@sentry/browser\",\"version\":\"7.110.0\"}],"
    "\"integrations\":[\"InboundFilters\",\"FunctionToString\",\"TryCatch\","
    "\"Breadcrumbs\",\"GlobalHandlers\",\"LinkedErrors\",\"Dedupe\"]}";
constexpr std::string_view kTags =
    ",\"tags\":{\"region\":\"eu-west-1\",\"customer_tier\":\"enterprise\","
    "\"transaction\":\"/api/orders/{order_id}/\",\"url\":"
    "\"https://shop.example.com/api/orders/8812/\"}";
constexpr std::string_view kUser =
    ",\"user\":{\"id\":\"42817\",\"email\":\"jane.doe@example.com\","
    "\"ip_address\":\"203.0.113.42\",\"username\":\"jdoe\"}";
constexpr std::string_view kPythonContexts =
    ",\"contexts\":{\"os\":{\"name\":\"Linux\",\"version\":\"6.1.0\","
    "\"kernel_version\":\"6.1.0-18-amd64\"},\"runtime\":{\"name\":\"CPython\","
    "\"version\":\"3.11.2\"},\"trace\":{\"trace_id\":"
    "\"4c79f60c11214eb38604f4ae0781bfb2\",\"span_id\":\"fa90fdead5f74052\","
    "\"op\":\"http.server\",\"status\":\"internal_error\"}}";
constexpr std::string_view kPythonRequest =
    ",\"request\":{\"url\":\"https://shop.example.com/api/orders/8812/\","
    "\"method\":\"POST\",\"query_string\":\"expand=items&currency=EUR\","
    "\"headers\":{\"Accept\":\"application/json\",\"Content-Type\":"
    "\"application/json\",\"User-Agent\":\"Mozilla/5.0 (X11; Linux x86_64) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Safari/537.36\",\"Host\":\"shop.example.com\"},\"env\":{\"REMOTE_ADDR\":"
    "\"10.0.3.17\",\"SERVER_NAME\":\"web-7c9f\",\"SERVER_PORT\":\"8000\"}}";

constexpr std::string_view kBrowserContexts =
    ",\"contexts\":{\"browser\":{\"name\":\"Chrome\",\"version\":\"124.0.0\"},"
    "\"os\":{\"name\":\"Windows\",\"version\":\"10\"},\"trace\":{\"trace_id\":"
    "\"4c79f60c11214eb38604f4ae0781bfb2\",\"span_id\":\"fa90fdead5f74052\"}}";
constexpr std::string_view kBrowserRequest =
    ",\"request\":{\"url\":\"https://shop.example.com/checkout/payment\","
    "\"headers\":{\"User-Agent\":\"Mozilla/5.0 (Windows NT 10.0; Win64; x64) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\","
    "\"Referer\":\"https://shop.example.com/checkout/cart\"}}";

constexpr std::string_view kCrumbsOpen = ",\"breadcrumbs\":{\"values\":[";
constexpr std::string_view kCrumbsClose = "]}";
constexpr std::string_view kExtraOpen = ",\"extra\":{\"last_job_log\":\"";
constexpr std::string_view kExtraClose = "\"}";

// Below this target the python sample alone would overshoot, so the smaller
// javascript event is the base.
constexpr size_t kPythonBaseFrom = 3072;

std::string Deflate(std::string_view data, int window_bits) {
  z_stream zs{};
  if (deflateInit2(&zs, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    Die("deflateInit2 failed");
  }
  std::string out(deflateBound(&zs, data.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) Die("deflate failed");
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

}  // namespace

std::string MakeEventJson(size_t target_bytes) {
  const bool python = target_bytes >= kPythonBaseFrom;
  std::string json = Minify(tern::testing::ReadEventSample(
      python ? "sentry/python-http-error.json"
             : "sentry/javascript-exception-fallback-to-message.json"));
  if (json.empty() || json.back() != '}') Die("sample is not a JSON object");
  json.pop_back();
  // One byte for the closing brace of the event.
  auto fits = [&](size_t extra) {
    return json.size() + extra + 1 <= target_bytes;
  };

  const std::array<std::string_view, 5> sections =
      python
          ? std::array<std::string_view, 5>{kPythonSdk, kTags, kUser,
                                            kPythonContexts, kPythonRequest}
          : std::array<std::string_view, 5>{kBrowserSdk, kTags, kUser,
                                            kBrowserContexts, kBrowserRequest};
  for (std::string_view section : sections) {
    if (fits(section.size())) json += section;
  }

  Rng rng;
  const size_t extra_min = kExtraOpen.size() + kExtraClose.size() + 16;
  std::string crumbs;
  for (int i = 0;; ++i) {
    std::string crumb = Breadcrumb(rng, i, python ? "httplib" : "fetch");
    const size_t need = kCrumbsOpen.size() + crumbs.size() + 1 + crumb.size() +
                        kCrumbsClose.size() + extra_min;
    if (!fits(need)) break;
    if (i) crumbs += ',';
    crumbs += crumb;
  }
  if (!crumbs.empty()) {
    json += kCrumbsOpen;
    json += crumbs;
    json += kCrumbsClose;
  }

  if (fits(kExtraOpen.size() + kExtraClose.size() + 1)) {
    const size_t text =
        target_bytes - 1 - json.size() - kExtraOpen.size() - kExtraClose.size();
    json += kExtraOpen;
    json += Prose(rng, text);
    json += kExtraClose;
  }
  json += '}';
  return json;
}

std::string Gzip(std::string_view data) { return Deflate(data, 15 + 16); }

std::string ZlibDeflate(std::string_view data) { return Deflate(data, 15); }

std::string RawDeflate(std::string_view data) { return Deflate(data, -15); }

std::string Brotli(std::string_view data) {
  std::string out(BrotliEncoderMaxCompressedSize(data.size()), '\0');
  size_t out_size = out.size();
  if (!BrotliEncoderCompress(5, 22, BROTLI_MODE_TEXT, data.size(),
                             reinterpret_cast<const uint8_t*>(data.data()),
                             &out_size,
                             reinterpret_cast<uint8_t*>(out.data()))) {
    Die("BrotliEncoderCompress failed");
  }
  out.resize(out_size);
  return out;
}

std::string Zstd(std::string_view data) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  const size_t n =
      ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 3);
  if (ZSTD_isError(n)) Die("ZSTD_compress failed");
  out.resize(n);
  return out;
}

}  // namespace tern::bench
