// Test and benchmark access to ../shared: the corpus of real Sentry events
// (event-samples/) and the grouping fixtures.
//
// The location comes from the TERN_SHARED_DIR compile definition that
// cmake/TernTargets.cmake sets, and can be overridden with the environment
// variable of the same name (for running a binary from elsewhere).
#ifndef TERN_TESTS_SUPPORT_SAMPLES_H_
#define TERN_TESTS_SUPPORT_SAMPLES_H_

#include <set>
#include <string>
#include <vector>

namespace tern::testing {

// The shared/ directory.
std::string SharedDir();

// Every *.json file under shared/event-samples/ (sentry/, bugsink/,
// glitchtip/), as paths relative to event-samples/ ("sentry/actix.json"),
// sorted.
std::vector<std::string> AllEventSamples();

// The relative paths listed in event-samples/KNOWN-BROKEN.
std::set<std::string> KnownBrokenSamples();

// Reads `relative` under event-samples/. Aborts the test binary if the file
// cannot be read: a missing fixture is a broken checkout, not a test result.
std::string ReadEventSample(const std::string& relative);

// Reads any file whole; aborts on error (tests only).
std::string ReadFileOrDie(const std::string& path);

}  // namespace tern::testing

#endif  // TERN_TESTS_SUPPORT_SAMPLES_H_
