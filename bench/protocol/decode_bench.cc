// Body decoding throughput: each Content-Encoding SDKs use, for events of 1,
// 8 and 50 KiB, plus the legacy store body (base64 of zlib). Bytes processed
// are decoded (output) bytes, so MB/s compares across codecs; targets are
// gzip >= 600 MB/s and zstd >= 1.2 GB/s on one core.
//
//   taskset -c 1 ./build/bin/decode_bench --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "bench/support/payloads.h"
#include "protocol/decode.h"

namespace tern::protocol {
namespace {

constexpr size_t kLimit = size_t{1} << 20;

enum class Kind { kGzip, kZlib, kRaw, kBrotli, kZstd };

std::string Compress(Kind kind, std::string_view json) {
  switch (kind) {
    case Kind::kGzip:
      return bench::Gzip(json);
    case Kind::kZlib:
      return bench::ZlibDeflate(json);
    case Kind::kRaw:
      return bench::RawDeflate(json);
    case Kind::kBrotli:
      return bench::Brotli(json);
    case Kind::kZstd:
      return bench::Zstd(json);
  }
  return {};
}

std::string_view Header(Kind kind) {
  switch (kind) {
    case Kind::kGzip:
      return "gzip";
    case Kind::kZlib:
    case Kind::kRaw:
      return "deflate";
    case Kind::kBrotli:
      return "br";
    case Kind::kZstd:
      return "zstd";
  }
  return "identity";
}

// One decoder and one output buffer reused across iterations, as a worker
// thread does across requests.
template <Kind kKind>
void BM_Decode(benchmark::State& state) {
  const std::string json =
      bench::MakeEventJson(static_cast<size_t>(state.range(0)));
  const std::string body = Compress(kKind, json);
  BodyDecoder decoder;
  std::string out;
  for (auto _ : state) {
    auto r = decoder.DecodeContent(Header(kKind), body, kLimit, &out);
    if (!r.ok() || r->size() != json.size()) {
      state.SkipWithError("decode failed");
      break;
    }
    benchmark::DoNotOptimize(r->data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(json.size()));
  state.counters["ratio"] =
      static_cast<double>(json.size()) / static_cast<double>(body.size());
}

std::string Base64(std::string_view data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : data) {
    acc = (acc << 8) | static_cast<uint8_t>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 63];
  while (out.size() % 4 != 0) out += '=';
  return out;
}

// What raven-python sends to /store/ and over UDP: base64(zlib(JSON)).
void BM_StoreBodyBase64Zlib(benchmark::State& state) {
  const std::string json =
      bench::MakeEventJson(static_cast<size_t>(state.range(0)));
  const std::string body = Base64(bench::ZlibDeflate(json));
  BodyDecoder decoder;
  std::string out;
  for (auto _ : state) {
    auto r = decoder.DecodeStoreBody(body, kLimit, &out);
    if (!r.ok() || r->size() != json.size()) {
      state.SkipWithError("decode failed");
      break;
    }
    benchmark::DoNotOptimize(r->data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(json.size()));
}

void Sizes(benchmark::internal::Benchmark* b) {
  b->Arg(1 << 10)->Arg(8 << 10)->Arg(50 << 10);
}

BENCHMARK(BM_Decode<Kind::kGzip>)->Name("BM_DecodeGzip")->Apply(Sizes);
BENCHMARK(BM_Decode<Kind::kZlib>)->Name("BM_DecodeDeflateZlib")->Apply(Sizes);
BENCHMARK(BM_Decode<Kind::kRaw>)->Name("BM_DecodeDeflateRaw")->Apply(Sizes);
BENCHMARK(BM_Decode<Kind::kBrotli>)->Name("BM_DecodeBrotli")->Apply(Sizes);
BENCHMARK(BM_Decode<Kind::kZstd>)->Name("BM_DecodeZstd")->Apply(Sizes);
BENCHMARK(BM_StoreBodyBase64Zlib)->Apply(Sizes);

}  // namespace
}  // namespace tern::protocol
