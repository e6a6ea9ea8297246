// URL rules of JavaScript symbolication, the ones Sentry applies:
//  - the names under which a release artifact may be stored for a frame's
//    abs_path (the full URL, without query, and "~/" plus the path, which
//    matches any scheme and host);
//  - resolving a "sourceMappingURL" or a map's "sources" against the URL
//    they were found at;
//  - the short "filename" shown for an original file.
// Pure string functions; no I/O.
#ifndef TERN_BACKEND_SYMBOLICATE_URL_H_
#define TERN_BACKEND_SYMBOLICATE_URL_H_

#include <string>
#include <string_view>
#include <vector>

namespace tern::backend::symbolicate {

// The artifact names to look up for `url`, most specific first, without
// duplicates: the URL without its fragment, then without its query, then
// "~/path?query" and "~/path" ("~" stands for any scheme and host; a URL
// without a scheme, such as a file path, is taken as a path). Empty for an
// empty url.
std::vector<std::string> UrlCandidates(std::string_view url);

// Resolves `ref` against `base` as a browser would for relative references:
// a ref with a scheme (or a data: URL) stands alone; "//host/..." takes the
// base's scheme; "/path" the base's origin; anything else replaces the base's
// last path segment. "." and ".." segments are removed. A base of "~/x" keeps
// "~" as its origin.
std::string JoinUrl(std::string_view base, std::string_view ref);

// The filename Sentry shows for an original source's abs_path: the path
// after "webpack://" (and its namespace) or "app://" without a leading "./"
// or "/"; for other URLs the path part; a plain path as it is.
std::string FilenameForUrl(std::string_view abs_path);

// The value of the last "//# sourceMappingURL=" (or legacy "//@") comment
// of a minified file, or "" when it has none. Lines are searched from the
// end, as browsers do, so a map reference inside a string earlier in the
// file does not win.
std::string_view FindSourceMappingUrl(std::string_view source);

}  // namespace tern::backend::symbolicate

#endif  // TERN_BACKEND_SYMBOLICATE_URL_H_
