// Function-name cleanups applied before a frame's function takes part in
// grouping (Sentry's trim_function_name): native (C, C++, Rust, Swift,
// Objective-C) names lose argument lists, return types, template arguments,
// `[clone .x]` suffixes, Rust hashes, GLIBC versions and MSVC decorations, and
// compiler-specific lambda/anonymous-namespace names are made uniform; C#
// names lose their signature.
#ifndef TERN_BACKEND_GROUPING_FUNCTIONS_H_
#define TERN_BACKEND_GROUPING_FUNCTIONS_H_

#include <string>
#include <string_view>

#include "protocol/json_value.h"

namespace tern::grouping {

// "native" (c, cocoa, native, objc, swift), "javascript" (javascript, node)
// or "other": the platform families Sentry's rules are written against.
std::string_view BehaviorFamily(std::string_view platform);

// Sentry's trim_function_name(function, platform): the C# and native
// cleanups above; other platforms get `function` unchanged.
std::string TrimFunctionName(std::string_view function,
                             std::string_view platform);

// The native cleanup alone ("std::vector<int>::push_back(int const&)" ->
// "std::vector<T>::push_back").
std::string TrimNativeFunctionName(std::string_view function,
                                   std::string_view platform);

// Sentry's get_function_name_for_frame: the function as sent when the frame
// has a raw_function, else TrimFunctionName of it for the frame's (or the
// event's) platform; "" without a function.
std::string FunctionNameForFrame(const protocol::JsonValue& frame,
                                 std::string_view platform);

}  // namespace tern::grouping

#endif  // TERN_BACKEND_GROUPING_FUNCTIONS_H_
