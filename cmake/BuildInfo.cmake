# tern_build_info: an interface target whose generated header
# (tern_build_info.h) tells the binaries their version, commit and default
# config directory, for --version and for a run without --config.
#
#   TERN_VERSION     empty (a dev build): `git describe --tags --always
#                    --dirty` of the source tree, refreshed on every build;
#                    the package build passes the Debian version
#   TERN_COMMIT      empty: `git rev-parse --short=12 HEAD`, refreshed on
#                    every build; the package build passes the commit it
#                    was built from
#   TERN_CONFIG_DIR  where relay.yml and backend.yml are looked for when
#                    --config is absent: "config" (relative to the working
#                    directory, the source tree's examples) unless set;
#                    the package build sets /etc/tern
set(TERN_VERSION "" CACHE STRING "Version printed by --version (empty: git describe)")
set(TERN_COMMIT "" CACHE STRING "Commit printed by --version (empty: git rev-parse)")
set(TERN_CONFIG_DIR "config" CACHE STRING "Default config directory of the binaries")

set(_tern_build_info_dir ${CMAKE_BINARY_DIR}/generated)
set(_tern_build_info_h ${_tern_build_info_dir}/tern_build_info.h)
# A target that always runs, so a new commit shows in the next build without a
# reconfigure; the script rewrites the header only when its text changes, so
# an unchanged tree recompiles nothing.
add_custom_target(tern_build_info_h
  COMMAND ${CMAKE_COMMAND}
          -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
          -DOUTPUT=${_tern_build_info_h}
          "-DVERSION=${TERN_VERSION}"
          "-DCOMMIT=${TERN_COMMIT}"
          "-DCONFIG_DIR=${TERN_CONFIG_DIR}"
          -P ${PROJECT_SOURCE_DIR}/cmake/WriteBuildInfo.cmake
  BYPRODUCTS ${_tern_build_info_h}
  COMMENT "tern_build_info.h"
  VERBATIM)
add_library(tern_build_info INTERFACE)
target_include_directories(tern_build_info INTERFACE ${_tern_build_info_dir})
add_dependencies(tern_build_info tern_build_info_h)
