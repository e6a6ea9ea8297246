#include "backend/grouping/grouping.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <memory>
#include <set>

#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "backend/grouping/enhancers.h"
#include "backend/grouping/event_fields.h"
#include "backend/grouping/fingerprinting.h"
#include "backend/grouping/functions.h"
#include "backend/grouping/md5.h"
#include "backend/grouping/regex.h"
#include "common/status.h"
#include "protocol/json_writer.h"

namespace tern::grouping {
namespace {

using protocol::JsonValue;

// ---------------------------------------------------------------------------
// Grouping components: Sentry's GroupingComponent. A node either holds leaf
// strings or child components. `contributes` is computed once, when the node
// is built (any value / any contributing child), and afterwards only changed
// explicitly, exactly like Sentry: a later update of a child does not
// recompute its parent.

//
// Components hold views: ids and hints are literals, values point into the
// parsed event or into the Strings of the build (so that copying a tree, as
// the app and system variants do, copies no text).

// The strings computed while the trees are built (lowercased file names,
// trimmed functions, parameterized messages), kept as long as the trees.
class Strings {
 public:
  std::string_view Keep(std::string s) {
    return kept_.emplace_back(std::move(s));
  }

  // The project's own stack-trace rules for this pass, or null. (The pass's
  // one context object, so it rides along with the strings.)
  const Enhancements* custom = nullptr;

 private:
  std::deque<std::string> kept_;  // stable addresses
};

struct Component {
  std::string_view id;
  absl::InlinedVector<std::string_view, 2> strings;
  std::vector<Component> children;
  bool contributes = false;
  std::string_view hint;

  static Component Leaf(std::string_view id,
                        std::optional<std::string_view> value) {
    Component c;
    c.id = id;
    if (value) {
      c.strings.push_back(*value);
      c.contributes = true;
    }
    return c;
  }
  static Component Node(std::string_view id, std::vector<Component> children) {
    Component c;
    c.id = id;
    c.children = std::move(children);
    for (const Component& child : c.children)
      c.contributes |= child.contributes;
    return c;
  }
  void Disable(std::string_view why) {
    contributes = false;
    hint = why;
  }
  // Replaces the leaf value; like Sentry's update(values=...), contributes
  // follows the new value unless given.
  void SetValue(std::string_view value) {
    strings.assign(1, value);
    contributes = true;
  }

  void IterValues(std::vector<std::string_view>* out) const {
    if (!contributes) return;
    for (std::string_view s : strings) out->push_back(s);
    for (const Component& c : children) c.IterValues(out);
  }
  bool HasContributingSub(std::string_view sub_id) const {
    for (const Component& c : children) {
      if (!c.contributes) continue;
      if (c.id == sub_id || c.HasContributingSub(sub_id)) return true;
    }
    return false;
  }
  void Dump(int depth, std::string* out) const {
    out->append(static_cast<size_t>(depth) * 2, ' ');
    absl::StrAppend(out, ToAbsl(id), contributes ? "*" : "");
    for (std::string_view s : strings) {
      absl::StrAppend(out, " \"", ToAbsl(s), "\"");
    }
    if (!hint.empty()) absl::StrAppend(out, " (", ToAbsl(hint), ")");
    out->push_back('\n');
    for (const Component& c : children) c.Dump(depth + 1, out);
  }
};

std::string HashValues(const std::vector<std::string_view>& values) {
  Md5 md5;
  for (std::string_view v : values) md5.Update(v);
  return md5.HexDigest();
}

// ---------------------------------------------------------------------------
// Frames, as Sentry sees them after normalize_stacktraces_for_grouping:
// native/C# function names trimmed (the original kept as raw_function),
// stack-trace rules applied (in_app, category), in_app defaulting to false.

// The platforms the component rules single out.
enum class Platform : uint8_t {
  kOther,
  kJava,
  kJavascript,
  kNode,
  kPython,
  kPhp,
  kRuby,
  kCsharp
};

Platform PlatformOf(std::string_view p) {
  if (p == "java") return Platform::kJava;
  if (p == "javascript") return Platform::kJavascript;
  if (p == "node") return Platform::kNode;
  if (p == "python") return Platform::kPython;
  if (p == "php") return Platform::kPhp;
  if (p == "ruby") return Platform::kRuby;
  if (p == "csharp") return Platform::kCsharp;
  return Platform::kOther;
}

struct Frame {
  std::optional<std::string_view> function;      // trimmed
  std::optional<std::string_view> raw_function;  // original, when trimmed
  std::optional<std::string_view> module, filename, abs_path, package,
      context_line;
  std::string_view platform;  // frame's own or the event's
  std::string_view family;    // BehaviorFamily(platform)
  // platform and family as the component rules test them (decided once
  // per frame instead of string compares in every rule).
  Platform kind = Platform::kOther;
  bool native = false, javascript = false;
  // For recursion detection, compared by their JSON text (SameNumberText).
  const JsonValue *lineno = nullptr, *colno = nullptr;
  bool sourcemap = false;
  bool in_app = false;  // final
};

struct Stack {
  std::vector<Frame> frames;
  // What the +group/-group rules decided per frame (nullopt: no rule).
  std::vector<std::optional<bool>> group_override;
};

// The members of a frame that grouping reads, found in one walk over its
// members (a Find per field would walk them a dozen times); the first of
// duplicate keys wins, as with Find.
struct FrameFields {
  const JsonValue *platform = nullptr, *module = nullptr, *filename = nullptr,
                  *abs_path = nullptr, *package = nullptr,
                  *context_line = nullptr, *lineno = nullptr, *colno = nullptr,
                  *data = nullptr, *function = nullptr, *raw_function = nullptr,
                  *in_app = nullptr;

  explicit FrameFields(const JsonValue& frame) {
    for (const JsonValue::Member& m : frame.members()) {
      const JsonValue** slot = Slot(m.first);
      if (slot != nullptr && *slot == nullptr) *slot = &m.second;
    }
  }

  // As Str(): a string member, else nullopt.
  static std::optional<std::string_view> Text(const JsonValue* v) {
    if (v == nullptr || !v->is_string()) return std::nullopt;
    return v->string();
  }

 private:
  // By length and first byte, so that a key costs one comparison.
  const JsonValue** Slot(std::string_view key) {
    auto is = [key](std::string_view name, const JsonValue** slot) {
      return key == name ? slot : nullptr;
    };
    if (key.empty()) return nullptr;
    switch (key.size() * 256 + static_cast<unsigned char>(key[0])) {
      case 4 * 256 + 'd':
        return is("data", &data);
      case 5 * 256 + 'c':
        return is("colno", &colno);
      case 6 * 256 + 'm':
        return is("module", &module);
      case 6 * 256 + 'l':
        return is("lineno", &lineno);
      case 6 * 256 + 'i':
        return is("in_app", &in_app);
      case 7 * 256 + 'p':
        return is("package", &package);
      case 8 * 256 + 'p':
        return is("platform", &platform);
      case 8 * 256 + 'a':
        return is("abs_path", &abs_path);
      case 8 * 256 + 'f':
        return key[1] == 'i' ? is("filename", &filename)
                             : is("function", &function);
      case 12 * 256 + 'c':
        return is("context_line", &context_line);
      case 12 * 256 + 'r':
        return is("raw_function", &raw_function);
      default:
        return nullptr;
    }
  }
};

std::string NumberText(const JsonValue* v) {
  if (v == nullptr || v->is_null()) return "";
  std::string out;
  v->AppendJson(&out);
  return out;
}

// Builds the frames of one stack trace and runs the modifier rules over
// them. `exception` is null outside exceptions.
Stack PrepareStack(const JsonValue& stacktrace, std::string_view event_platform,
                   const JsonValue* exception, Strings* strings) {
  Stack stack;
  stack.frames.reserve(stacktrace["frames"].items().size());
  std::string_view last_platform, last_family;
  Platform last_kind = Platform::kOther;
  bool first = true;
  for (const JsonValue& f : stacktrace["frames"].items()) {
    if (!f.is_object()) continue;  // null frames are skipped, as Sentry
    const FrameFields fields(f);
    Frame frame;
    frame.platform =
        FrameFields::Text(fields.platform).value_or(event_platform);
    if (first || frame.platform.data() != last_platform.data() ||
        frame.platform.size() != last_platform.size()) {
      // Frames mostly share the event's platform: the same view.
      first = false;
      last_platform = frame.platform;
      last_family = BehaviorFamily(frame.platform);
      last_kind = PlatformOf(frame.platform);
    }
    frame.family = last_family;
    frame.kind = last_kind;
    frame.native = frame.family == "native";
    frame.javascript = frame.family == "javascript";
    frame.module = FrameFields::Text(fields.module);
    frame.filename = FrameFields::Text(fields.filename);
    frame.abs_path = FrameFields::Text(fields.abs_path);
    frame.package = FrameFields::Text(fields.package);
    frame.context_line = FrameFields::Text(fields.context_line);
    frame.lineno = fields.lineno;
    frame.colno = fields.colno;
    const JsonValue* sourcemap =
        fields.data == nullptr ? nullptr : fields.data->Find("sourcemap");
    frame.sourcemap = sourcemap != nullptr && !sourcemap->is_null();
    std::optional<std::string_view> function =
        FrameFields::Text(fields.function);
    std::optional<std::string_view> raw_function =
        FrameFields::Text(fields.raw_function);
    if (raw_function) {
      frame.raw_function = raw_function;
      frame.function = function;
    } else if (function && !function->empty() &&
               (frame.kind == Platform::kCsharp || frame.native)) {
      // (TrimFunctionName leaves other platforms' names alone.)
      std::string trimmed = TrimFunctionName(*function, frame.platform);
      if (trimmed != *function) {
        frame.raw_function = function;
        frame.function = strings->Keep(std::move(trimmed));
      } else {
        frame.function = function;
      }
    } else {
      frame.function = function;
    }
    frame.in_app = fields.in_app != nullptr && fields.in_app->boolean();

    stack.frames.push_back(std::move(frame));
  }
  // The path rules match this path (abs_path, else filename).
  auto rule_path = [](const Frame& frame) {
    return frame.abs_path && !frame.abs_path->empty() ? frame.abs_path
                                                      : frame.filename;
  };
  size_t to_normalize = 0;
  for (const Frame& frame : stack.frames) {
    for (const std::optional<std::string_view>& v :
         {frame.package, rule_path(frame)}) {
      if (v && !IsNormalizedPathValue(*v)) to_normalize += v->size();
    }
  }
  // The rule frames (local: only the rules below read them) point into the
  // event, or into this buffer for packages and paths that need
  // normalizing: sized first, so that appending never moves it.
  std::string normalized_text;
  normalized_text.reserve(to_normalize);
  auto normalized = [&normalized_text](std::string_view v) -> std::string_view {
    if (IsNormalizedPathValue(v)) return v;
    size_t at = normalized_text.size();
    AppendNormalizedPathValue(v, &normalized_text);
    return std::string_view(normalized_text).substr(at);
  };
  std::vector<RuleFrame> rule_frames;
  rule_frames.reserve(stack.frames.size());
  for (const Frame& frame : stack.frames) {
    RuleFrame& rf = rule_frames.emplace_back();
    rf.family = frame.family;
    // Rules see the trimmed name unless the client sent raw_function, and
    // "<unknown>" for a frame without one (so that rules written for
    // unsymbolicated frames match; group_307_* depends on it).
    rf.function = frame.function && !frame.function->empty()
                      ? *frame.function
                      : std::string_view("<unknown>");
    rf.module = frame.module;
    if (frame.package) rf.package = normalized(*frame.package);
    if (std::optional<std::string_view> path = rule_path(frame)) {
      rf.path = normalized(*path);
    }
    rf.in_app = frame.in_app;
    rf.Finish();
  }
  RuleException ex;
  if (exception != nullptr) {
    ex.type = StrOr(*exception, "type");
    ex.value = StrOr(*exception, "value");
    ex.mechanism = StrOr((*exception)["mechanism"], "type");
  }
  // +group/-group do not depend on the variant: both passes run once.
  if (strings->custom == nullptr) {
    Enhancements::Default().Apply(&rule_frames, ex, &stack.group_override);
  } else {
    // Sentry runs a project's rules after the built-in ones (its base):
    // every modification first, then every +group/-group, where the last
    // rule that touched a frame decides, so the project's rule wins.
    Enhancements::Default().ApplyModifications(&rule_frames, ex);
    strings->custom->ApplyModifications(&rule_frames, ex);
    Enhancements::Default().UpdateContributions(rule_frames, ex,
                                                &stack.group_override);
    std::vector<std::optional<bool>> custom_group;
    strings->custom->UpdateContributions(rule_frames, ex, &custom_group);
    for (size_t i = 0; i < custom_group.size(); ++i) {
      if (custom_group[i]) stack.group_override[i] = custom_group[i];
    }
  }
  for (size_t i = 0; i < stack.frames.size(); ++i) {
    stack.frames[i].in_app = rule_frames[i].in_app;
  }
  return stack;
}

bool HasUrlOrigin(std::optional<std::string_view> path,
                  bool allow_file_origin) {
  if (!path || path->empty()) return false;
  char c = (*path)[0];  // most paths are no URL: reject by the first byte
  if (c != 'h' && c != 'a' && c != 'b' && c != 'f') return false;
  for (std::string_view p : {"http:", "https:", "applewebdata:", "blob:"}) {
    if (path->starts_with(p)) return true;
  }
  if (path->starts_with("file:")) return !allow_file_origin;
  return false;
}

// Java / JS code-generation markers (Sentry's module and filename cleanups).
const Regex& JavaReflectRe() {
  static const Regex re(
      R"((sun\.reflect\.Generated(?:Serialization)?ConstructorAccessor)\d+)");
  return re;
}
const Regex& JavaCglibRe() {
  static const Regex re(R"((\$\$[\w_]+?CGLIB\$\$)[a-fA-F0-9]+(_[0-9]+)?)");
  return re;
}
// Guice and other `$$EnhancerBy<Lib>$$<hex>` / `$$FastClassBy<Lib>$$<hex>`
// proxies and Hibernate's `$HibernateProxy$<id>`: Sentry's snapshots
// frame_ignores_ENHANCED_enhancer_by_classes, ..._fast_class_by_classes and
// frame_ignores_hibernate_classes replace the generated part by <auto>.
const Regex& JavaEnhancerByRe() {
  static const Regex re(R"((\$\$EnhancerBy\w+?\$\$)[a-fA-F0-9]+(_[0-9]+)?)");
  return re;
}
const Regex& JavaFastClassByRe() {
  static const Regex re(R"((\$\$FastClassBy\w+?\$\$)[a-fA-F0-9]+(_[0-9]+)?)");
  return re;
}
const Regex& JavaHibernateProxyRe() {
  static const Regex re(R"((\$HibernateProxy\$)\w+)");
  return re;
}
const Regex& JavassistRe() {
  static const Regex re(R"((\$\$_javassist)(?:_seam)?(?:_[0-9]+)?)");
  return re;
}
const Regex& ClojureRe() {
  static const Regex re(R"((\$fn__)\d+)");
  return re;
}
const Regex& RubyErbRe() {
  static const Regex re(R"(__\d{4,}_\d{4,}$)");
  return re;
}

bool HasUpper(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return c >= 'A' && c <= 'Z'; });
}

Component FilenameComponent(const Frame& f, Strings* strings) {
  if (!f.filename) return Component::Leaf("filename", std::nullopt);
  std::string_view name = *f.filename;
  size_t slash = name.find_last_of("/\\");
  if (slash != std::string_view::npos) name.remove_prefix(slash + 1);
  std::string_view filename =
      HasUpper(name) ? strings->Keep(absl::AsciiStrToLower(ToAbsl(name)))
                     : name;
  Component c = Component::Leaf("filename", filename);
  if (HasUrlOrigin(f.abs_path, /*allow_file_origin=*/true)) {
    c.Disable("ignored because frame points to a URL");
  } else if (filename == "<anonymous>") {
    c.Disable("anonymous filename discarded");
  } else if (filename == "[native code]") {
    c.Disable("native code indicated by filename");
  } else if (f.kind == Platform::kJava &&
             filename.find("$$_javassist") != std::string_view::npos) {
    std::string cleaned = JavassistRe().ReplaceAll(filename, "$1<auto>");
    if (cleaned != filename) c.SetValue(strings->Keep(std::move(cleaned)));
  }
  return c;
}

Component ModuleComponent(const Frame& f, Strings* strings) {
  if (!f.module) return Component::Leaf("module", std::nullopt);
  std::string_view module = *f.module;
  Component c = Component::Leaf("module", module);
  if (f.kind == Platform::kJavascript &&
      module.find('/') != std::string::npos && f.abs_path &&
      f.abs_path->ends_with(module)) {
    c.Disable("ignored bad javascript module");
  } else if (f.kind == Platform::kJava) {
    // Every marker below but "ConstructorAccessor" has a '$', and most
    // modules have none: one search settles them all.
    const bool dollar = module.find('$') != std::string_view::npos;
    if (dollar && module.find("$$Lambda$") != std::string_view::npos) {
      c.Disable("ignored java lambda");
    }
    if (module.substr(0, 35) == "sun.reflect.GeneratedMethodAccessor") {
      c.strings.assign(1, "sun.reflect.GeneratedMethodAccessor");
    } else if (module.substr(0, 44) ==
               "jdk.internal.reflect.GeneratedMethodAccessor") {
      c.strings.assign(1, "jdk.internal.reflect.GeneratedMethodAccessor");
    } else {
      // Each pattern only runs when its fixed part is there; the module is
      // copied only then.
      std::string m;
      bool cleaned = false;
      auto clean = [&](std::string_view marker, const Regex& re) {
        std::string_view current = cleaned ? std::string_view(m) : module;
        if (current.find(marker) != std::string_view::npos) {
          m = re.ReplaceAll(current, "$1<auto>");
          cleaned = true;
        }
      };
      clean("ConstructorAccessor", JavaReflectRe());
      // (The reflect cleanup adds no '$' to a module without one.)
      if (dollar) {
        clean("CGLIB$$", JavaCglibRe());
        clean("$$_javassist", JavassistRe());
        clean("$fn__", ClojureRe());
        clean("$$EnhancerBy", JavaEnhancerByRe());
        clean("$$FastClassBy", JavaFastClassByRe());
        clean("$HibernateProxy$", JavaHibernateProxyRe());
      }
      if (cleaned && m != module) c.strings.assign(1, strings->Keep(m));
    }
  }
  return c;
}

std::string_view RSplitDot(std::string_view s) {
  size_t dot = s.rfind('.');
  return dot == std::string_view::npos ? s : s.substr(dot + 1);
}

Component FunctionComponent(const Frame& f, bool sourcemap_and_context,
                            Strings* strings) {
  // C# frames hash the raw (untrimmed) name: Sentry trimmed C# names late
  // and kept hashes stable by preferring raw_function there.
  const std::optional<std::string_view>& func =
      f.kind == Platform::kCsharp
          ? (f.raw_function ? f.raw_function : f.function)
          : (f.function && !f.function->empty() ? f.function : f.raw_function);
  if (!func || func->empty()) return Component::Leaf("function", std::nullopt);
  Component c = Component::Leaf("function", *func);
  if (f.kind == Platform::kRuby) {
    if (func->starts_with("block ")) {
      c.strings.assign(1, "block");
    } else {
      std::string cleaned = RubyErbRe().ReplaceAll(*func, "");
      if (cleaned != *func) {
        c.strings.assign(1, strings->Keep(std::move(cleaned)));
      }
    }
  } else if (f.kind == Platform::kPhp) {
    if (func->starts_with("[Anonymous") ||
        func->starts_with(std::string_view("class@anonymous\0", 16))) {
      c.Disable("ignored anonymous function");
    }
    // A method of an anonymous class hashes as the method's name. Sentry
    // sets it with update(values=...), which makes the component contribute
    // again after the "ignored anonymous function" above: the system
    // variant of laravel-anonymous.json hashes "run".
    if (func->starts_with("class@anonymous")) {
      size_t sep = func->rfind("::");
      if (sep != std::string_view::npos) {
        c.SetValue(func->substr(sep + 2));
        c.hint = "anonymous class method";
      }
    }
  } else if (f.kind == Platform::kJava) {
    if (func->starts_with("lambda$")) c.Disable("ignored lambda function");
  } else if (f.native) {
    if (*func == "<redacted>" || *func == "<unknown>") {
      c.Disable("ignored unknown function");
    }
  } else if (f.javascript) {
    // Object.foo / Foo.foo -> foo, for cross-browser differences.
    std::string_view last = RSplitDot(*func);
    if (last.size() != func->size()) c.strings.assign(1, last);
    if (sourcemap_and_context) {
      c.Disable("ignored because sourcemap used and context line available");
    }
  }
  return c;
}

bool IsContextLinePlatform(Platform p) {
  return p == Platform::kJavascript || p == Platform::kNode ||
         p == Platform::kPython || p == Platform::kPhp || p == Platform::kRuby;
}

std::optional<Component> ContextLineComponent(const Frame& f,
                                              Strings* strings) {
  if (!IsContextLinePlatform(f.kind)) return std::nullopt;
  // " ".join(line.expandtabs(2).split()): whitespace runs collapse.
  std::string line;
  if (f.context_line) {
    bool pending_space = false;
    for (char c : *f.context_line) {
      bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
                   c == '\f' || c == '\v' || c == '\x1c' || c == '\x1d' ||
                   c == '\x1e' || c == '\x1f';
      if (space) {
        pending_space = !line.empty();
        continue;
      }
      if (pending_space) line.push_back(' ');
      pending_space = false;
      line.push_back(c);
    }
  }
  if (line.empty()) return Component::Leaf("context-line", std::nullopt);
  Component c = Component::Leaf("context-line", strings->Keep(std::move(line)));
  // Python measures code points, not bytes.
  size_t chars = 0;
  for (char ch : *f.context_line) chars += (ch & 0xC0) != 0x80;
  if (chars > 120) {
    c.Disable("discarded because line too long");
  } else if (f.javascript && (!f.function || f.function->empty()) &&
             HasUrlOrigin(f.abs_path, /*allow_file_origin=*/false)) {
    c.Disable("discarded because from URL origin and no function");
  }
  return c;
}

Component FrameComponent(const Frame& f, bool is_recursion, Strings* strings) {
  Component filename = FilenameComponent(f, strings);
  Component module = ModuleComponent(f, strings);
  if (module.contributes && filename.contributes) {
    filename.Disable("module takes precedence");
  }
  std::optional<Component> context_line = ContextLineComponent(f, strings);
  Component function = FunctionComponent(
      f, f.sourcemap && context_line && context_line->contributes, strings);
  std::vector<Component> values;
  values.reserve(4);  // one allocation, not three
  values.push_back(std::move(module));
  values.push_back(std::move(filename));
  values.push_back(std::move(function));
  if (context_line) values.push_back(std::move(*context_line));
  Component frame = Component::Node("frame", std::move(values));

  if (f.javascript) {
    // Low-quality JavaScript frames are dropped consistently so that the
    // same error groups across browsers.
    const std::optional<std::string_view>& func =
        f.raw_function ? f.raw_function : f.function;
    std::string_view last;
    if (func) last = RSplitDot(*func);
    Component& fn = frame.children[2];
    if (last.empty()) {
      fn.contributes = false;
    } else if (last == "?" || last == "<anonymous function>" ||
               last == "<anonymous>" || last == "Anonymous function" ||
               last.ends_with("/<")) {
      fn.Disable("ignored unknown function name");
    }
    std::string_view abs = f.abs_path.value_or("");
    if (last == "eval" || abs == "[native code]" || abs == "native code" ||
        abs == "eval code" || abs == "<anonymous>") {
      frame.Disable("ignored low quality javascript frame");
    }
  }
  if (is_recursion) frame.Disable("ignored due to recursion");
  return frame;
}

// NumberText(a) == NumberText(b) (null and absent are both ""), without
// building the text in the usual case of two numbers.
bool SameNumberText(const JsonValue* a, const JsonValue* b) {
  bool a_empty = a == nullptr || a->is_null();
  bool b_empty = b == nullptr || b->is_null();
  if (a_empty || b_empty) return a_empty == b_empty;
  if (a->is_number() && b->is_number()) {
    return a->raw_number() == b->raw_number();
  }
  return NumberText(a) == NumberText(b);
}

bool IsRecursion(const Frame& a, const Frame& b) {
  return a.abs_path == b.abs_path && a.package == b.package &&
         a.module == b.module && a.filename == b.filename &&
         a.function == b.function && SameNumberText(a.lineno, b.lineno) &&
         SameNumberText(a.colno, b.colno);
}

// Sentry's Frame.is_url: an abs_path on a file:, http(s):, applewebdata:
// or blob: URL.
bool IsUrl(const Frame& f) {
  if (!f.abs_path) return false;
  for (std::string_view p :
       {"file:", "http:", "https:", "applewebdata:", "blob:"}) {
    if (f.abs_path->starts_with(p)) return true;
  }
  return false;
}

// The frame components of `stack`, the same for every variant.
std::vector<Component> FrameComponents(const Stack& stack, Strings* strings) {
  std::vector<Component> values;
  values.reserve(stack.frames.size());
  for (size_t i = 0; i < stack.frames.size(); ++i) {
    const Frame& f = stack.frames[i];
    bool recursion = i > 0 && IsRecursion(f, stack.frames[i - 1]);
    values.push_back(FrameComponent(f, recursion, strings));
  }
  return values;
}

Component StacktraceComponent(const Stack& stack, std::string_view variant,
                              std::vector<Component> values) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (variant == "app" && !stack.frames[i].in_app) {
      values[i].Disable("non app frame");
    }
  }
  if (values.size() == 1 && values[0].contributes) {
    const Frame& f = stack.frames[0];
    if (f.javascript && (!f.function || f.function->empty()) && IsUrl(f)) {
      values[0].Disable("ignored single non-URL JavaScript frame");
    }
  }
  for (size_t i = 0; i < values.size(); ++i) {
    const std::optional<bool>& rule = stack.group_override[i];
    if (rule && *rule != values[i].contributes) {
      values[i].contributes = *rule;
      values[i].hint = "stack trace rule";
    }
  }
  return Component::Node("stacktrace", std::move(values));
}

// variant name -> component, in production order.
// Names are literals ("app", "system", "default").
using Variants = std::vector<std::pair<std::string_view, Component>>;

Component* FindVariant(Variants& v, std::string_view name) {
  for (auto& [n, c] : v) {
    if (n == name) return &c;
  }
  return nullptr;
}

// Sentry's remove_non_stacktrace_variants: once some variant has a
// contributing stack trace, variants without one stop contributing.
void RemoveNonStacktraceVariants(Variants* variants) {
  if (variants->size() <= 1) return;
  bool any = false;
  for (auto& [name, c] : *variants) any |= c.HasContributingSub("stacktrace");
  if (!any) return;
  for (auto& [name, c] : *variants) {
    if (!c.HasContributingSub("stacktrace")) {
      c.Disable(
          "ignored because this variant does not have a contributing "
          "stacktrace");
    }
  }
}

Variants StacktraceVariants(const JsonValue& stacktrace,
                            std::string_view event_platform,
                            const JsonValue* exception, Strings* strings) {
  Stack stack = PrepareStack(stacktrace, event_platform, exception, strings);
  std::vector<Component> frames = FrameComponents(stack, strings);
  Variants out;
  out.emplace_back("app", StacktraceComponent(stack, "app", frames));
  out.emplace_back("system",
                   StacktraceComponent(stack, "system", std::move(frames)));
  return out;
}

bool HasFrames(const JsonValue& stacktrace) {
  for (const JsonValue& f : stacktrace["frames"].items()) {
    if (f.is_object()) return true;
  }
  return false;
}

// Exception type and value, with the relay's split of "Type: value" values
// that arrive without a type.
std::pair<std::optional<std::string_view>, std::optional<std::string_view>>
TypeValue(const JsonValue& exception) {
  std::optional<std::string_view> type = Str(exception, "type");
  std::optional<std::string_view> value = Str(exception, "value");
  if ((!type || type->empty()) && value) {
    // The relay's ^(\w+):(.*)$ : one line only.
    size_t colon = value->find(':');
    bool word = colon != std::string_view::npos && colon > 0 &&
                value->find('\n') == std::string_view::npos;
    for (size_t i = 0; word && i < colon; ++i) {
      char c = (*value)[i];
      word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9') || c == '_';
    }
    if (word) {
      type = value->substr(0, colon);
      std::string_view rest = value->substr(colon + 1);
      while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) {
        rest.remove_prefix(1);
      }
      while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\t')) {
        rest.remove_suffix(1);
      }
      value = rest;
    }
  }
  return {type, value};
}

Variants SingleExceptionVariants(const JsonValue& exception,
                                 std::string_view event_platform,
                                 Strings* strings) {
  auto [type, value] = TypeValue(exception);
  Component type_c =
      Component::Leaf("type", type && !type->empty() ? type : std::nullopt);
  const JsonValue& mechanism = exception["mechanism"];
  std::optional<Component> ns_error;
  if (mechanism.is_object()) {
    if (mechanism["synthetic"].boolean()) {
      type_c.Disable("ignored because exception is synthetic");
    }
    const JsonValue* ns = mechanism["meta"].Find("ns_error");
    if (ns != nullptr && ns->is_object()) {
      Component n;
      n.id = "ns-error";
      for (std::string_view key : {"domain", "code"}) {
        const JsonValue& v = (*ns)[key];
        if (v.is_string()) {
          n.strings.emplace_back(v.string());
        } else if (v.is_number()) {
          n.strings.emplace_back(v.raw_number());
        } else {
          n.strings.emplace_back("None");
        }
      }
      n.contributes = true;
      ns_error = std::move(n);
    }
  }
  Variants stacktrace_variants;
  const JsonValue& st = exception["stacktrace"];
  if (st.is_object() && HasFrames(st)) {
    stacktrace_variants =
        StacktraceVariants(st, event_platform, &exception, strings);
  } else {
    stacktrace_variants.emplace_back(
        "app", Component::Leaf("stacktrace", std::nullopt));
  }
  Variants out;
  std::optional<std::string_view> normalized;  // computed once, when needed
  for (auto& [name, stacktrace_c] : stacktrace_variants) {
    std::vector<Component> values;
    bool stacktrace_contributes = stacktrace_c.contributes;
    values.push_back(std::move(stacktrace_c));
    values.push_back(type_c);
    if (ns_error) values.push_back(*ns_error);
    Component value_c = Component::Leaf("value", std::nullopt);
    if (value && !value->empty()) {
      // Parameterizing is the costliest step of a small event; a value that
      // a stack trace overrides is never hashed, so it is kept raw (its
      // contribution is the same: the parameterized form of a non-empty
      // value is never empty).
      if (stacktrace_contributes) {
        value_c.SetValue(*value);
      } else {
        if (!normalized) {
          normalized = strings->Keep(NormalizeMessageForGrouping(*value));
        }
        value_c.SetValue(*normalized);
      }
    }
    if (stacktrace_contributes && value_c.contributes) {
      value_c.Disable("ignored because stacktrace takes precedence");
    }
    if (ns_error && ns_error->contributes && value_c.contributes) {
      value_c.Disable("ignored because ns-error info takes precedence");
    }
    values.push_back(std::move(value_c));
    out.emplace_back(name, Component::Node("exception", std::move(values)));
  }
  return out;
}

// Sentry's exception-group filtering: when every exception carries
// mechanism.exception_id, only the top-level (non-group) exceptions count,
// deduplicated by their hash; a single distinct one brings its children,
// several are chained followed by the root group.
std::vector<const JsonValue*> FilterExceptionGroups(
    const std::vector<const JsonValue*>& exceptions,
    const std::vector<Variants>& components) {
  if (exceptions.size() <= 1) return exceptions;
  // Node of an id: the exception that has it (the first in event order when
  // ids repeat) and the exceptions naming it as parent, in reverse event
  // order. A child is an exception, not an id: two exceptions sharing an id
  // are both children (Sentry's exception_groups_bad_duplicate_id chains
  // both).
  struct Node {
    int index = -1;
    std::vector<int> children;
  };
  std::map<int64_t, Node> tree;
  std::vector<int64_t> id_of(exceptions.size());
  for (size_t i = exceptions.size(); i-- > 0;) {
    const JsonValue& m = (*exceptions[i])["mechanism"];
    std::optional<int64_t> id = m["exception_id"].integer();
    if (!id) return exceptions;
    id_of[i] = *id;
    tree[*id].index = static_cast<int>(i);
    if (std::optional<int64_t> parent = m["parent_id"].integer()) {
      tree[*parent].children.push_back(static_cast<int>(i));
    }
  }
  auto root = tree.find(0);
  if (root == tree.end() || root->second.index < 0) return exceptions;
  // Depth-first from `start`, children in order; `visit` says whether to
  // descend. Iterative, as ids come from the client: chains may be long. A
  // path that comes back to an exception already on it never ends in
  // Sentry, which then groups the plain chain of all exceptions
  // (exception_groups_bad_inner_self_parenting_duplicate_id); so false here
  // and the caller does the same. Repeated ids can make the walk
  // exponential, so it also gives up after kMaxSteps.
  constexpr size_t kMaxSteps = 1 << 16;
  auto walk = [&](int start, auto&& visit) {
    std::vector<char> on_path(exceptions.size(), 0);
    std::vector<std::pair<int, bool>> stack = {{start, true}};
    size_t steps = 0;
    while (!stack.empty()) {
      auto [e, enter] = stack.back();
      stack.pop_back();
      if (!enter) {
        on_path[e] = 0;
        continue;
      }
      if (on_path[e] || ++steps > kMaxSteps) return false;
      if (!visit(e)) continue;  // false: do not descend
      on_path[e] = 1;
      stack.emplace_back(e, false);
      const std::vector<int>& children = tree[id_of[e]].children;
      for (auto c = children.rbegin(); c != children.rend(); ++c) {
        stack.emplace_back(*c, true);
      }
    }
    return true;
  };
  std::vector<int> top;
  if (!walk(root->second.index, [&](int index) {
        if ((*exceptions[index])["mechanism"]["is_exception_group"].boolean()) {
          return true;
        }
        top.push_back(index);
        return false;
      })) {
    return exceptions;
  }
  // A root group with no non-group descendants (children lost to a cycle or
  // a self-parent) groups as the root alone: Sentry's snapshots
  // exception_groups_bad_with_cycle and ..._bad_inner_self_parenting.
  if (top.empty()) return {exceptions[root->second.index]};
  auto hash_of = [&](int i) {
    std::string h;
    for (const auto& [name, c] : components[i]) {
      std::vector<std::string_view> v;
      c.IterValues(&v);
      absl::StrAppend(&h, ToAbsl(name), ":", HashValues(v), ";");
    }
    return h;
  };
  std::stable_sort(top.begin(), top.end(), [&](int a, int b) {
    return StrOr(*exceptions[a], "type") > StrOr(*exceptions[b], "type");
  });
  std::vector<int> distinct;
  std::set<std::string> seen;
  for (int i : top) {
    if (seen.insert(hash_of(i)).second) distinct.push_back(i);
  }
  std::vector<const JsonValue*> out;
  if (distinct.size() == 1) {
    // The one distinct exception, then all its descendants (its causes).
    if (!walk(distinct[0], [&](int index) {
          out.push_back(exceptions[index]);
          return true;
        })) {
      return exceptions;
    }
    return out;
  }
  // Several distinct ones: each of them, then the root group last (Sentry's
  // snapshots exception_groups_two_types and ..._under_nested_groups chain
  // [SuchWow, Amazing, Aggregate], not the root first).
  for (int i : distinct) out.push_back(exceptions[i]);
  out.push_back(exceptions[root->second.index]);
  return out;
}

Variants ChainedExceptionVariants(const JsonValue& event,
                                  std::string_view platform, Strings* strings) {
  std::vector<const JsonValue*> all;
  for (const JsonValue& e : ValuesOf(event["exception"])) {
    if (e.is_object()) all.push_back(&e);
  }
  if (all.empty()) return {};
  std::vector<Variants> components;
  components.reserve(all.size());
  for (const JsonValue* e : all) {
    components.push_back(SingleExceptionVariants(*e, platform, strings));
  }
  std::vector<const JsonValue*> chosen = FilterExceptionGroups(all, components);
  std::map<const JsonValue*, size_t> index_of;
  for (size_t i = 0; i < all.size(); ++i) index_of[all[i]] = i;
  Variants out;
  if (chosen.size() == 1) {
    out = std::move(components[index_of[chosen[0]]]);
  } else {
    for (const JsonValue* e : chosen) {
      size_t i = index_of[e];
      for (auto& [name, c] : components[i]) {
        Component* existing = FindVariant(out, name);
        if (existing == nullptr) {
          out.emplace_back(name, Component::Node("chained-exception", {}));
          existing = &out.back().second;
        }
        existing->children.push_back(c);
      }
    }
    for (auto& [name, c] : out) {
      c.contributes = false;
      for (const Component& child : c.children)
        c.contributes |= child.contributes;
    }
  }
  RemoveNonStacktraceVariants(&out);
  return out;
}

Variants ThreadsVariants(const JsonValue& event, std::string_view platform,
                         Strings* strings) {
  std::vector<const JsonValue*> threads;
  for (const JsonValue& t : ValuesOf(event["threads"])) {
    if (t.is_object()) threads.push_back(&t);
  }
  if (threads.empty() && !event["threads"].is_object() &&
      !event["threads"].is_array()) {
    return {};
  }
  auto pick = [&](const char* flag) {
    std::vector<const JsonValue*> out;
    for (const JsonValue* t : threads) {
      if (flag == nullptr || (*t)[flag].boolean()) out.push_back(t);
    }
    return out;
  };
  for (const char* flag :
       {"crashed", "current", static_cast<const char*>(nullptr)}) {
    std::vector<const JsonValue*> candidates = pick(flag);
    if (candidates.size() != 1) continue;
    const JsonValue& st = (*candidates[0])["stacktrace"];
    Variants out;
    if (!st.is_object() || !HasFrames(st)) {
      Component c = Component::Node("threads", {});
      c.hint = "thread has no stacktrace";
      out.emplace_back("app", std::move(c));
      return out;
    }
    for (auto& [name, c] : StacktraceVariants(st, platform, nullptr, strings)) {
      std::vector<Component> values;
      values.push_back(std::move(c));
      out.emplace_back(name, Component::Node("threads", std::move(values)));
    }
    RemoveNonStacktraceVariants(&out);
    return out;
  }
  Variants out;
  Component c = Component::Node("threads", {});
  c.hint = "ignored because does not contain exactly one thread";
  out.emplace_back("app", std::move(c));
  return out;
}

Variants TopStacktraceVariants(const JsonValue& event,
                               std::string_view platform, Strings* strings) {
  const JsonValue& st = event["stacktrace"];
  if (!st.is_object() || !HasFrames(st)) return {};
  Variants out = StacktraceVariants(st, platform, nullptr, strings);
  RemoveNonStacktraceVariants(&out);
  return out;
}

// The message an event groups by: logentry.message (the template), else
// logentry.formatted; a plain "message" string or object as the relay would
// have moved it into logentry.
std::optional<std::string_view> GroupingMessage(const JsonValue& event) {
  for (std::string_view key : {"logentry", "message"}) {
    const JsonValue& v = event[key];
    if (v.is_object()) {
      std::string_view m = StrOr(v, "message");
      if (!m.empty()) return m;
      if (auto f = Str(v, "formatted")) return f;
      if (Str(v, "message")) return m;
    } else if (v.is_string()) {
      // A bare string is the legacy form; the relay makes it `formatted`.
      return v.string();
    }
  }
  return std::nullopt;
}

// `normalize` is false when a stronger strategy already won: the message
// then never reaches a hash and is kept raw (it contributes all the same).
Variants MessageVariants(const JsonValue& event, bool normalize,
                         Strings* strings) {
  std::optional<std::string_view> message = GroupingMessage(event);
  if (!message) return {};
  Component c = Component::Leaf(
      "message", normalize
                     ? strings->Keep(NormalizeMessageForGrouping(*message))
                     : *message);
  Variants out;
  out.emplace_back("default", std::move(c));
  return out;
}

bool IsDefaultFingerprintVar(std::string_view v) {
  if (!v.starts_with("{{") || !v.ends_with("}}")) return false;
  v = v.substr(2, v.size() - 4);
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  return v == "default";
}

// Whether the values of `a` and of `b`, each concatenated, are the same
// text: what equal md5s of the two mean, without hashing.
bool SameConcatenation(const std::vector<std::string_view>& a,
                       const std::vector<std::string_view>& b) {
  size_t ia = 0, ib = 0, oa = 0, ob = 0;  // value index, offset in it
  while (true) {
    while (ia < a.size() && oa == a[ia].size()) ++ia, oa = 0;
    while (ib < b.size() && ob == b[ib].size()) ++ib, ob = 0;
    if (ia == a.size() || ib == b.size()) {
      return ia == a.size() && ib == b.size();
    }
    size_t n = std::min(a[ia].size() - oa, b[ib].size() - ob);
    if (a[ia].substr(oa, n) != b[ib].substr(ob, n)) return false;
    oa += n;
    ob += n;
  }
}

// A strategy whose system tree hashes the same values as its app tree
// keeps only the app hash; the system tree stays, not contributing. This is
// what Sentry's snapshots show since 2024-12 (newstyle@2023_01_11/
// block_invoke.pysnap: system `null`, "ignored because hash matches app
// variant"). The event keeps the same distinct hashes, so grouping is
// unchanged; only the reported variants are.
void DisableSystemMatchingApp(Variants* strategy) {
  Component* app = FindVariant(*strategy, "app");
  Component* system = FindVariant(*strategy, "system");
  if (app == nullptr || system == nullptr || !app->contributes ||
      !system->contributes) {
    return;
  }
  std::vector<std::string_view> a, b;
  app->IterValues(&a);
  system->IterValues(&b);
  if (SameConcatenation(a, b)) {
    system->Disable("ignored because hash matches app variant");
  }
}

// The component variants of `event`, Sentry's strategy precedence applied.
// They point into `event` and `strings`.
Variants ComponentVariants(const JsonValue& event, Strings* strings) {
  std::string_view platform = StrOr(event, "platform");
  std::vector<Variants> strategies;
  strategies.push_back(ChainedExceptionVariants(event, platform, strings));
  strategies.push_back(ThreadsVariants(event, platform, strings));
  strategies.push_back(TopStacktraceVariants(event, platform, strings));
  for (Variants& v : strategies) DisableSystemMatchingApp(&v);
  bool any_contributes = false;
  for (const Variants& v : strategies) {
    for (const auto& [name, c] : v) any_contributes |= c.contributes;
  }
  strategies.push_back(MessageVariants(event, !any_contributes, strings));

  int winner = -1;
  std::vector<std::pair<std::string_view, std::vector<Component>>> by_name;
  for (size_t s = 0; s < strategies.size(); ++s) {
    for (auto& [name, c] : strategies[s]) {
      const std::string_view key = name;  // lambdas cannot capture bindings
      if (c.contributes) {
        if (winner < 0) {
          winner = static_cast<int>(s);
        } else if (winner != static_cast<int>(s)) {
          c.Disable("ignored because another strategy takes precedence");
        }
      }
      auto it = std::find_if(by_name.begin(), by_name.end(),
                             [&](const auto& p) { return p.first == key; });
      if (it == by_name.end()) {
        by_name.emplace_back(name, std::vector<Component>{});
        it = by_name.end() - 1;
      }
      it->second.push_back(std::move(c));
    }
  }
  Variants out;
  for (auto& [name, comps] : by_name) {
    out.emplace_back(name, Component::Node(name, std::move(comps)));
  }
  return out;
}

std::optional<std::string> ComponentHash(const Component& c) {
  if (!c.contributes) return std::nullopt;
  std::vector<std::string_view> values;
  c.IterValues(&values);
  return HashValues(values);
}

void SortSystemLast(GroupingHashes* h) {
  std::stable_partition(h->variants.begin(), h->variants.end(),
                        [](const auto& v) { return v.first != "system"; });
  for (const auto& [name, hash] : h->variants) {
    if (hash && std::find(h->ordered.begin(), h->ordered.end(), *hash) ==
                    h->ordered.end()) {
      h->ordered.push_back(*hash);
    }
  }
}

// Fingerprint entries as strings; non-string entries as the relay
// stringifies them (Relay's LenientString: integers by their text, other
// numbers truncated, booleans as Python's True/False; a number a double
// cannot hold exactly and anything else is dropped). The relay has done
// this already for events that came through it; raw files (`hash FILE`)
// get the same result.
std::optional<std::vector<std::string>> Fingerprint(const JsonValue& event) {
  const JsonValue& fp = event["fingerprint"];
  if (!fp.is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (const JsonValue& v : fp.items()) {
    if (v.is_string()) {
      out.emplace_back(v.string());
    } else if (v.is_number()) {
      const std::string_view raw = v.raw_number();
      if (raw.find_first_of(".eE") == std::string_view::npos) {
        out.emplace_back(raw);
      } else if (std::fabs(v.number()) < 9007199254740992.0) {
        const double t = std::trunc(v.number());
        out.emplace_back(t == 0 && std::signbit(t)
                             ? std::string("-0")
                             : absl::StrCat(static_cast<int64_t>(t)));
      }
    } else if (v.is_bool()) {
      out.emplace_back(v.boolean() ? "True" : "False");
    }
  }
  if (out.empty()) return std::nullopt;
  return out;
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

// The variable an entry names when the whole entry is `{{ name }}`
// (Sentry's FINGERPRINT_VARIABLE_REGEX, `\{\{\s*(\S+)\s*\}\}`, matched
// over the whole entry); nullopt for a literal.
std::optional<std::string_view> FingerprintVariable(std::string_view v) {
  if (v.size() < 5 || !v.starts_with("{{") || !v.ends_with("}}")) {
    return std::nullopt;
  }
  v = v.substr(2, v.size() - 4);
  while (!v.empty() && IsSpace(v.front())) v.remove_prefix(1);
  while (!v.empty() && IsSpace(v.back())) v.remove_suffix(1);
  if (v.empty() || std::any_of(v.begin(), v.end(), IsSpace)) {
    return std::nullopt;
  }
  return v;
}

std::string OrPlaceholder(std::string_view value, std::string_view missing) {
  return std::string(value.empty() ? missing : value);
}

// Sentry's resolve_fingerprint_variable for one variable; nullopt for a
// variable it does not know, which newstyle:2023-01-11 keeps as literal
// text (its use_legacy_unknown_variable_handling).
std::optional<std::string> ResolveFingerprintVariable(std::string_view key,
                                                      const JsonValue& event) {
  const JsonValue* exc = LastException(event);
  auto exc_field = [&](std::string_view field) {
    return exc == nullptr ? std::string_view() : StrOr(*exc, field);
  };
  auto frame_field = [&](std::string_view a, std::string_view b = {}) {
    const JsonValue* f = CrashFrame(event, /*named_only=*/false);
    if (f == nullptr) return std::string_view();
    std::string_view v = StrOr(*f, a);
    return v.empty() && !b.empty() ? StrOr(*f, b) : v;
  };
  if (key == "transaction") {
    return OrPlaceholder(StrOr(event, "transaction"), "<no-transaction>");
  }
  if (key == "message" || key == "raw_message") {
    std::string_view m;
    const JsonValue& logentry = event["logentry"];
    if (logentry.is_object()) {
      m = StrOr(logentry, "formatted");
      if (m.empty()) m = StrOr(logentry, "message");
    } else if (!event.Find("logentry")) {
      m = StrOr(event, "message");  // a raw event the relay has not seen
    }
    if (m.empty()) m = exc_field("value");
    return OrPlaceholder(m, "<no-message>");
  }
  if (key == "type" || key == "error.type") {
    return OrPlaceholder(exc_field("type"), "<no-type>");
  }
  if (key == "value" || key == "raw_value" || key == "error.value" ||
      key == "error.raw_value") {
    return OrPlaceholder(exc_field("value"), "<no-value>");
  }
  if (key == "function" || key == "stack.function") {
    return OrPlaceholder(frame_field("function"), "<no-function>");
  }
  if (key == "path" || key == "stack.abs_path") {
    return OrPlaceholder(frame_field("abs_path", "filename"), "<no-abs-path>");
  }
  if (key == "stack.filename") {
    return OrPlaceholder(frame_field("filename", "abs_path"), "<no-filename>");
  }
  if (key == "module" || key == "stack.module") {
    return OrPlaceholder(frame_field("module"), "<no-module>");
  }
  if (key == "package" || key == "stack.package") {
    std::string_view pkg = frame_field("package");
    // The last segment of a POSIX or Windows path.
    if (size_t slash = pkg.rfind('/'); slash != std::string_view::npos) {
      pkg.remove_prefix(slash + 1);
    }
    if (size_t bs = pkg.rfind('\\'); bs != std::string_view::npos) {
      pkg.remove_prefix(bs + 1);
    }
    return OrPlaceholder(pkg, "<no-package>");
  }
  if (key == "level") {
    // Normalization gives every event a level (error by default) before
    // Sentry groups it; a raw file without one gets that default too.
    return OrPlaceholder(StrOr(event, "level"), "error");
  }
  if (key == "logger") {
    return OrPlaceholder(StrOr(event, "logger"), "<no-logger>");
  }
  if (key.starts_with("tags.")) {
    const std::string_view tag = key.substr(5);
    const JsonValue& tags = event["tags"];
    if (tags.is_array()) {  // the relay's and Sentry's [[key, value], ...]
      for (const JsonValue& pair : tags.items()) {
        std::span<const JsonValue> kv = pair.items();
        if (kv.size() == 2 && kv[0].is_string() && kv[0].string() == tag &&
            kv[1].is_string()) {
          return std::string(kv[1].string());
        }
      }
    } else if (tags.is_object()) {
      if (std::optional<std::string_view> v = Str(tags, tag)) {
        return std::string(*v);
      }
    }
    return absl::StrCat("<no-value-for-tag-", ToAbsl(tag), ">");
  }
  return std::nullopt;
}

// The fingerprint with its variables resolved; `{{ default }}` entries and
// unknown variables stay as written.
void ResolveFingerprintValues(const JsonValue& event,
                              std::vector<std::string>* fingerprint) {
  for (std::string& entry : *fingerprint) {
    std::optional<std::string_view> key = FingerprintVariable(entry);
    if (!key || *key == "default") continue;
    if (std::optional<std::string> v =
            ResolveFingerprintVariable(*key, event)) {
      // Sentry parameterizes the message (all of it, not its first two
      // lines) where a fingerprint uses it; a title keeps it raw.
      if (*key == "message" && *v != "<no-message>") {
        *v = NormalizeMessageForGrouping(*v, /*trim=*/false);
      }
      entry = std::move(*v);
    }
  }
}

// Sentry's expand_title_template: every {{ variable }} in `title` resolved
// as in a fingerprint; an unknown one stays as written.
std::string ExpandTitleTemplate(std::string_view title,
                                const JsonValue& event) {
  static const Regex variable(R"(\{\{\s*(\S+)\s*\}\})");
  return variable.Replace(
      title, [&](std::string_view match, int, std::string* out) {
        std::optional<std::string_view> key = FingerprintVariable(match);
        std::optional<std::string> v;
        if (key) v = ResolveFingerprintVariable(*key, event);
        out->append(v ? *v : std::string(match));
      });
}

}  // namespace

absl::StatusOr<GroupingHashes> ComputeHashes(const JsonValue& event,
                                             const ProjectGrouping& project) {
  if (!event.is_object()) {
    return absl::InvalidArgumentError("event is not a JSON object");
  }
  Strings strings;
  strings.custom = project.stacktrace;
  Variants variants = ComponentVariants(event, &strings);
  std::optional<std::vector<std::string>> fingerprint = Fingerprint(event);
  // A server-side rule overrides what the client sent (Sentry's
  // apply_server_fingerprinting); an empty rule fingerprint means default.
  const FingerprintRule* rule = project.fingerprinting != nullptr
                                    ? project.fingerprinting->Match(event)
                                    : nullptr;
  if (rule != nullptr) {
    fingerprint = rule->fingerprint;
    if (fingerprint->empty()) fingerprint.reset();
  }
  if (!fingerprint) fingerprint = std::vector<std::string>{"{{ default }}"};
  ResolveFingerprintValues(event, &*fingerprint);
  bool has_default = false, only_default = true;
  for (const std::string& v : *fingerprint) {
    bool d = IsDefaultFingerprintVar(v);
    has_default |= d;
    only_default &= d;
  }

  GroupingHashes result;
  if (!has_default) {
    // Custom fingerprint: it alone decides; the trees stay, unhashed.
    for (auto& [name, c] : variants)
      result.variants.emplace_back(name, std::nullopt);
    std::vector<std::string_view> values(fingerprint->begin(),
                                         fingerprint->end());
    result.variants.insert(result.variants.begin(),
                           {"custom_fingerprint", HashValues(values)});
  } else if (!only_default) {
    // Hybrid: every {{ default }} expands to the variant's own values.
    for (auto& [name, c] : variants) {
      if (!c.contributes) {
        result.variants.emplace_back(name, std::nullopt);
        continue;
      }
      std::vector<std::string_view> values;
      for (const std::string& v : *fingerprint) {
        if (IsDefaultFingerprintVar(v)) {
          c.IterValues(&values);
        } else {
          values.push_back(v);
        }
      }
      result.variants.emplace_back(name, HashValues(values));
    }
  } else {
    for (auto& [name, c] : variants) {
      result.variants.emplace_back(name, ComponentHash(c));
    }
  }
  bool any = false;
  for (const auto& [name, hash] : result.variants) any |= hash.has_value();
  if (!any) result.variants.emplace_back("fallback", Md5Hex(""));
  SortSystemLast(&result);
  if (rule != nullptr) {
    result.fingerprint_rule_line = rule->line;
    if (rule->title)
      result.rule_title = ExpandTitleTemplate(*rule->title, event);
  }
  return result;
}

std::string DebugDump(const JsonValue& event) {
  std::string out;
  if (!event.is_object()) return out;
  Strings strings;
  for (const auto& [name, c] : ComponentVariants(event, &strings)) {
    std::optional<std::string> h = ComponentHash(c);
    absl::StrAppend(&out, "== ", ToAbsl(name), " ", h.value_or("null"), "\n");
    c.Dump(0, &out);
  }
  return out;
}

std::string HashesToJson(const GroupingHashes& hashes) {
  std::string out;
  protocol::JsonWriter w(&out);
  w.BeginObject();
  for (const auto& [name, hash] : hashes.variants) {
    w.Key(name);
    if (hash) {
      w.String(*hash);
    } else {
      w.Null();
    }
  }
  w.EndObject();
  return out;
}

absl::StatusOr<Enhancements> ParseProjectStacktraceRules(
    std::string_view text) {
  // Categories are numbered per rule set, so a project rule could not read
  // or set the built-in rules' categories: refused rather than misapplied.
  for (size_t at = text.find("category"); at != std::string_view::npos;
       at = text.find("category", at + 1)) {
    const size_t after = at + 8;
    if (after < text.size() && (text[after] == ':' || text[after] == '=') &&
        (at == 0 || text[at - 1] == ' ' || text[at - 1] == '\n' ||
         text[at - 1] == '\t' || text[at - 1] == '!')) {
      size_t line = 1;
      for (size_t i = 0; i < at; ++i) line += text[i] == '\n';
      return absl::InvalidArgumentError(absl::StrCat(
          "rule line ", line,
          ": category matchers and actions are not supported in project "
          "rules"));
    }
  }
  return Enhancements::Parse(text);
}

}  // namespace tern::grouping
