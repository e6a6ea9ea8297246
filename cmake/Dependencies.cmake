# Every third-party library comes from a Debian package (scripts/deps.sh);
# docs/dependencies.md says why each one is here.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(simdjson CONFIG REQUIRED)
find_package(GTest CONFIG REQUIRED)
find_package(yaml-cpp CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
if(TERN_BUILD_BENCH)
  find_package(benchmark CONFIG REQUIRED)
endif()

pkg_check_modules(ZLIB REQUIRED IMPORTED_TARGET zlib)
pkg_check_modules(LIBDEFLATE REQUIRED IMPORTED_TARGET libdeflate)
pkg_check_modules(BROTLIDEC REQUIRED IMPORTED_TARGET libbrotlidec)
pkg_check_modules(BROTLIENC REQUIRED IMPORTED_TARGET libbrotlienc)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
# relay/quota_redis: shared quotas (docs/dependencies.md)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
pkg_check_modules(MSGPACK REQUIRED IMPORTED_TARGET msgpack)
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv)
pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka)
# backend: grouping (PCRE2 for look-behind patterns), storage (SQLite, libpq)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
# backend/symbolicate: artifact bundles (zip) uploaded by sentry-cli.
pkg_check_modules(LIBZIP REQUIRED IMPORTED_TARGET libzip)
# backend/alerts: SMTP and webhook delivery (libcurl), webhook signatures
# (OpenSSL's HMAC-SHA256)
pkg_check_modules(LIBCURL REQUIRED IMPORTED_TARGET libcurl)
find_package(OpenSSL REQUIRED)

# llhttp: Debian's node-llhttp ships the generated C sources rather than a
# library, so we compile our own static copy (used by net/).
set(TERN_LLHTTP_DIR /usr/share/llhttp CACHE PATH "llhttp C sources")
set(TERN_LLHTTP_INCLUDE /usr/share/include/llhttp CACHE PATH "llhttp.h")
if(EXISTS ${TERN_LLHTTP_DIR}/llhttp.c)
  add_library(llhttp STATIC ${TERN_LLHTTP_DIR}/api.c ${TERN_LLHTTP_DIR}/http.c
                            ${TERN_LLHTTP_DIR}/llhttp.c)
  target_include_directories(llhttp SYSTEM PUBLIC ${TERN_LLHTTP_INCLUDE})
  set_target_properties(llhttp PROPERTIES POSITION_INDEPENDENT_CODE ON)
else()
  message(FATAL_ERROR "llhttp sources not found in ${TERN_LLHTTP_DIR}; run scripts/deps.sh")
endif()
