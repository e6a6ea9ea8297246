// Request body decoding: HTTP Content-Encoding (gzip, deflate, br, zstd) and
// the legacy store body (raw JSON, or base64 of zlib-compressed JSON).
//
// Every byte an SDK sends passes through here before any parser sees it, and
// the input is hostile: a 100 KiB gzip body can claim to hold 100 MiB. So the
// one rule of this file is that output is bounded by the caller's `limit`
// before it is written: no decoder allocates or writes decoded bytes past
// `limit`, and a body that would decode to more fails with 413 after at most
// `limit` bytes of work per attempt (and at most about twice that in total).
//
// A BodyDecoder keeps the decompression contexts (libdeflate, zstd) that are
// expensive to set up, so it is created once per worker thread and reused for
// every request; it is not thread-safe. Output goes to a caller-owned
// std::string that is also meant to be reused across requests: its capacity
// is kept, so a warm worker decodes without allocating.
#ifndef TERN_PROTOCOL_DECODE_H_
#define TERN_PROTOCOL_DECODE_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tern::protocol {

// The content codings the relay accepts.
enum class ContentEncoding { kIdentity, kGzip, kDeflate, kBrotli, kZstd };

// Parses a Content-Encoding header value. Case-insensitive, surrounding
// spaces and tabs ignored. `identity`, the empty value and `UTF-8` (which
// some SDKs send although it is a charset) mean kIdentity; `gzip` and
// `x-gzip` mean kGzip; `deflate` covers both the zlib-wrapped and the raw
// form (told apart by the data). A list of codings ("gzip, identity") is not
// supported: SDKs never stack codings and the relay would gain nothing from
// peeling them. Errors: UnsupportedMedia (415) naming the value, for unknown
// codings and for lists.
absl::StatusOr<ContentEncoding> ParseContentEncoding(std::string_view value);

// The canonical token ("identity", "gzip", "deflate", "br", "zstd").
std::string_view ContentEncodingName(ContentEncoding encoding);

// Decodes request bodies within a size limit, reusing its contexts across
// calls. One per worker thread; movable, not copyable.
class BodyDecoder {
 public:
  // Cheap: contexts are allocated on first use and then kept.
  BodyDecoder();
  ~BodyDecoder();
  BodyDecoder(BodyDecoder&&) noexcept;
  BodyDecoder& operator=(BodyDecoder&&) noexcept;
  BodyDecoder(const BodyDecoder&) = delete;
  BodyDecoder& operator=(const BodyDecoder&) = delete;

  // Decodes `body` sent with the Content-Encoding header value
  // `content_encoding` (see ParseContentEncoding) into at most `limit` bytes.
  //
  // On success the returned view holds the decoded body. For identity it
  // points into `body` (nothing is copied and `*out` is left untouched);
  // otherwise the decoded bytes are at the start of `*out` and the view
  // covers exactly them. `*out` may be longer than the view: its size is
  // left as it was grown, so a warm buffer is not zero-filled again on the
  // next call. Either way the view is valid until `body` or `*out` changes,
  // so callers keep both alive while they use the result.
  //
  // `*out` is scratch owned by the caller: its previous contents are
  // discarded and its capacity is reused. When it has to grow, it grows to at
  // most `limit` bytes (plus the terminating NUL), never more, whatever the
  // body claims. On error its contents are unspecified.
  //
  // gzip accepts concatenated members (RFC 1952 multi-member). Bytes after
  // the end of a gzip, zlib, raw deflate, brotli or zstd stream are an error.
  // zstd accepts concatenated and skippable frames, and no dictionaries.
  //
  // Errors:
  //   UnsupportedMedia (415): unknown coding or a list, value in the message.
  //   TooLarge (413): the decoded body would be larger than `limit`.
  //   BadRequest (400): corrupt, truncated or trailing data; the message names
  //     the coding.
  //   Internal (500): a decompression context could not be allocated.
  absl::StatusOr<std::string_view> DecodeContent(
      std::string_view content_encoding, std::string_view body, size_t limit,
      std::string* out);

  // Same, with an already parsed coding.
  absl::StatusOr<std::string_view> Decode(ContentEncoding encoding,
                                          std::string_view body, size_t limit,
                                          std::string* out);

  // Decodes a legacy store body (POST /api/{id}/store/ without an envelope
  // content type, and UDP datagrams), after any Content-Encoding has been
  // removed. Raven clients send either JSON or base64(zlib(JSON)):
  //   - if the first non-whitespace byte is '{', the body is JSON and the
  //     result is a view into `body` with surrounding whitespace trimmed;
  //     `*out` is untouched;
  //   - otherwise it is base64: standard or URL-safe alphabet (even mixed),
  //     padding optional, ASCII whitespace anywhere ignored (MIME line
  //     breaks). If the decoded bytes start with a zlib header they are
  //     inflated into `*out`; otherwise they are taken as JSON and copied
  //     into `*out`. The result is then a view of the start of `*out`.
  // `*out` follows the rules of DecodeContent. Whether the result is valid
  // JSON is left to the JSON parser. The base64 text is decoded into scratch
  // owned by this decoder, sized by the input (3/4 of `body`), before
  // inflating.
  //
  // Errors:
  //   BadRequest (400): empty body, "invalid base64", or corrupt, truncated
  //     or trailing zlib data.
  //   TooLarge (413): the JSON (raw, decoded or inflated) exceeds `limit`.
  //   Internal (500): a decompression context could not be allocated.
  absl::StatusOr<std::string_view> DecodeStoreBody(std::string_view body,
                                                   size_t limit,
                                                   std::string* out);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::protocol

#endif  // TERN_PROTOCOL_DECODE_H_
