// Realistic payloads for benchmarks: Sentry error events of a chosen size and
// the compressed forms SDKs send them in.
//
// Every benchmark that measures a stage of the relay (decode, envelope
// parsing, normalization, the Kafka codec) wants the same inputs, so they live
// here once. Events are built from a real sample in shared/event-samples and
// grown with the kind of breadcrumbs and context real SDKs attach, so that the
// byte mix (keys, short strings, numbers, URLs) resembles production traffic.
// Everything is deterministic: the same size gives the same bytes on every
// run, so numbers are comparable across runs and machines.
#ifndef TERN_BENCH_SUPPORT_PAYLOADS_H_
#define TERN_BENCH_SUPPORT_PAYLOADS_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace tern::bench {

// A realistic Sentry error event (JSON) of about `target_bytes` (within a few
// percent; never smaller than the base sample, about 0.7 KiB), built from a
// real exception event of shared/event-samples (javascript below ~3 KiB,
// python above; both compiled into the binary, so it needs no shared/ at run
// time), minified as SDKs send it, and grown to size with an SDK block, tags,
// user, contexts, request, breadcrumbs (http, navigation, query, log) and
// extra context. Always valid JSON, deterministic.
std::string MakeEventJson(size_t target_bytes);

// Compressors, at the settings SDKs use (level 6 for the zlib family, brotli
// quality 5 / window 22 as browsers and Node use for dynamic content, zstd
// level 3). Abort on failure: inputs are benchmark fixtures, not user data.
std::string Gzip(std::string_view data);         // RFC 1952 gzip member.
std::string ZlibDeflate(std::string_view data);  // RFC 1950 zlib stream.
std::string RawDeflate(std::string_view data);   // RFC 1951, no wrapper.
std::string Brotli(std::string_view data);
std::string Zstd(std::string_view data);  // One frame, content size recorded.

}  // namespace tern::bench

#endif  // TERN_BENCH_SUPPORT_PAYLOADS_H_
