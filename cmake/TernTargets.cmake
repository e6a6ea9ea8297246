# One helper per target kind, so every directory's CMakeLists.txt reads the
# same way: tern_library, tern_binary, tern_test, tern_benchmark,
# tern_fuzzer.
include(CMakeParseArguments)
include(GoogleTest)

set(TERN_WARNINGS -Wall -Wextra -Wno-unused-parameter)
if(TERN_WERROR)
  list(APPEND TERN_WARNINGS -Werror)
endif()

# In the fuzz tree every library is built with libFuzzer's coverage
# instrumentation (without its main), or the fuzzers would only see the
# harness's own branches; the fuzzer executables add -fsanitize=fuzzer.
if(TERN_FUZZ)
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

if(TERN_SANITIZE)
  add_compile_options(-fsanitize=${TERN_SANITIZE} -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${TERN_SANITIZE})
endif()

# tern_library(NAME SRCS a.cc b.cc DEPS lib...)
# A static library rooted at the source tree, so includes read
# "protocol/dsn.h" everywhere.
function(tern_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SRCS})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(${name} PRIVATE ${TERN_WARNINGS})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# tern_binary(NAME SRCS main.cc DEPS lib...)
# A program shipped to users (build/bin/NAME): tern-relay, tern-backend,
# tern-bench.
function(tern_binary name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  target_compile_options(${name} PRIVATE ${TERN_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
endfunction()

# tern_test(NAME SRCS foo_test.cc DEPS lib...)
# A GoogleTest binary; each TEST becomes one ctest entry. TERN_SHARED_DIR is
# passed in so tests can read ../shared without guessing the cwd.
function(tern_test name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  target_compile_options(${name} PRIVATE ${TERN_WARNINGS})
  target_compile_definitions(${name}
    PRIVATE TERN_SHARED_DIR="${TERN_SHARED_DIR}"
            TERN_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  set(labels unit)
  if(ARG_LABELS)
    set(labels ${ARG_LABELS})
  endif()
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST PROPERTIES LABELS "${labels}")
endfunction()

# tern_benchmark(NAME SRCS foo_bench.cc DEPS lib...)
# A Google Benchmark binary. It is also registered as a ctest entry that runs
# every benchmark once for a moment, so benchmarks cannot rot; no timing is
# asserted there.
function(tern_benchmark name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  target_compile_options(${name} PRIVATE ${TERN_WARNINGS})
  target_compile_definitions(${name}
    PRIVATE TERN_SHARED_DIR="${TERN_SHARED_DIR}")
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} benchmark::benchmark_main)
  add_test(NAME bench_smoke.${name}
           COMMAND ${name} --benchmark_min_time=0.001)
  set_tests_properties(bench_smoke.${name} PROPERTIES LABELS bench-smoke)
endfunction()

# tern_fuzzer(NAME SRCS foo_fuzz.cc DEPS lib... CORPUS dir)
# A libFuzzer target (only with TERN_FUZZ=ON and clang). ctest runs it for
# TERN_FUZZ_SECONDS over the checked-in seed corpus; new inputs go to a
# scratch corpus in the build tree, never into the source tree.
function(tern_fuzzer name)
  cmake_parse_arguments(ARG "" "CORPUS" "SRCS;DEPS" ${ARGN})
  if(NOT TERN_FUZZ)
    return()
  endif()
  add_executable(${name} ${ARG_SRCS})
  target_compile_options(${name} PRIVATE ${TERN_WARNINGS} -fsanitize=fuzzer)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  set(scratch ${CMAKE_BINARY_DIR}/fuzz-corpus/${name})
  file(MAKE_DIRECTORY ${scratch})
  add_test(NAME fuzz.${name}
           COMMAND ${name} -max_total_time=${TERN_FUZZ_SECONDS}
                   -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
                   ${scratch} ${ARG_CORPUS})
  set_tests_properties(fuzz.${name} PROPERTIES LABELS fuzz)
endfunction()
