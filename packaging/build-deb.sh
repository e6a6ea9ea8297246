#!/usr/bin/env bash
# Builds the Debian packages tern-relay, tern-backend and tern-bench (and
# their -dbgsym packages) from a clean clone of this checkout's HEAD:
#
#   packaging/build-deb.sh [--out DIR]
#
# 1. git clone of HEAD (committed work only) into the work directory
# 2. packaging/debian becomes debian/; debian/changelog gets the version
# 3. dpkg-buildpackage -b (debhelper, CMake, Ninja; packaging/debian/rules)
# 4. the .deb (-dbgsym too), .buildinfo and .changes files are copied to --out
#    (default build/deb) and their names printed
#
# Version: from `git describe --tags --match 'v[0-9]*'`: tag v1.2.3 -> 1.2.3,
# 5 commits after it -> 1.2.3+git5.<hash>, no tag -> 0.0.0~git<N>.<hash>
# with N the number of commits, so every later commit sorts higher.
# Environment:
#   TERN_DEB_COMMIT    build this commit instead of HEAD (the package test
#                      pins the commit it started on)
#   TERN_DEB_VERSION   use this version instead (the upgrade test builds an
#                      older one)
#   TERN_DEB_WORKDIR   work directory (default ~/.cache/tern/deb-build, or
#                      $XDG_CACHE_HOME/tern/deb-build); it is the same every
#                      run so ccache hits on a rebuild; a lock keeps two
#                      builds out of each other's way
#   TERN_DEB_JOBS      parallel compile jobs (default 2)
#   TERN_DEB_REUSE=1   when the work directory holds a build of this same
#                      commit, build on it (dpkg-buildpackage -nc) instead
#                      of a fresh clone: only what the version changes is
#                      rebuilt (the upgrade test's second version)
#   TERN_SHARED_DIR    the shared/ folder whose event samples tern-bench
#                      compiles in (default: ../shared beside the checkout)
# Build dependencies: packaging/debian/control (scripts/deps.sh installs
# them). docs/packaging.md explains the choices.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

out=build/deb
while (($#)); do
  case $1 in
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-deb.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)

die() { echo "build-deb.sh: $*" >&2; exit 1; }
for tool in git dpkg-buildpackage dh; do
  command -v "$tool" >/dev/null || die "$tool is missing (run scripts/deps.sh)"
done

shared=${TERN_SHARED_DIR:-$ROOT/../shared}
[[ -d $shared/event-samples ]] || die "no event samples in $shared (TERN_SHARED_DIR; tern-bench compiles two in)"
TERN_SHARED_DIR=$(cd "$shared" && pwd)
export TERN_SHARED_DIR

commit=$(git rev-parse --verify "${TERN_DEB_COMMIT:-HEAD}^{commit}") ||
  die "no commit ${TERN_DEB_COMMIT:-HEAD}"
short=$(git rev-parse --short=12 "$commit")
if [[ -n ${TERN_DEB_VERSION:-} ]]; then
  version=$TERN_DEB_VERSION
elif desc=$(git describe --tags --long --match 'v[0-9]*' "$commit" 2>/dev/null); then
  # v1.2.3-5-gabcdef
  if [[ $desc =~ ^v([0-9][0-9A-Za-z.+~]*)-([0-9]+)-g([0-9a-f]+)$ ]]; then
    base=${BASH_REMATCH[1]} n=${BASH_REMATCH[2]} h=${BASH_REMATCH[3]}
    if ((n == 0)); then version=$base; else version=$base+git$n.$h; fi
  else
    die "cannot read a version from git describe output '$desc'"
  fi
else
  version=0.0.0~git$(git rev-list --count "$commit").$(git rev-parse --short=7 "$commit")
fi
[[ $version =~ ^[0-9][0-9A-Za-z.+~]*$ ]] || die "bad Debian version '$version'"
if [[ -z ${TERN_DEB_COMMIT:-} ]] && ! git diff --quiet HEAD -- 2>/dev/null; then
  echo "build-deb.sh: note: uncommitted changes are not in the packages (they build HEAD, $short)" >&2
fi

work=${TERN_DEB_WORKDIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tern/deb-build}
mkdir -p "$work"
exec 9>"$work/.lock"
flock 9
rm -rf "$work"/*.deb "$work"/*.ddeb "$work"/*.buildinfo "$work"/*.changes
src=$work/src
reuse=
if [[ ${TERN_DEB_REUSE:-0} == 1 && -d $src/build-deb &&
  $(git -C "$src" rev-parse HEAD 2>/dev/null) == "$commit" ]] &&
  git -C "$src" diff --quiet HEAD -- 2>/dev/null; then
  reuse=1
else
  rm -rf "$src"
  git clone --quiet --no-hardlinks "$ROOT" "$src"
  git -C "$src" checkout --quiet --detach "$commit"
  cp -r "$src/packaging/debian" "$src/debian"
fi
echo "$short" >"$src/debian/tern-commit"
# One entry per build: the version and the commit it was built from (the
# history itself is `git log`).
maint=$(sed -n 's/^Maintainer: //p' "$src/debian/control")
{
  echo "tern ($version) bookworm; urgency=medium"
  echo
  echo "  * Built from commit $commit"
  echo "    ($(git log -1 --format=%s "$commit" | cut -c1-60))."
  echo
  echo " -- $maint  $(git log -1 --format=%aD "$commit")"
} >"$src/debian/changelog"

nc=()
if [[ -n $reuse ]]; then
  # The same commit's tree and build-deb/ from the last run: dh runs every
  # step again (its stamps go), but ninja rebuilds only what the version
  # changes (the build-info header, three main.o, the links).
  rm -f "$src"/debian/debhelper-build-stamp "$src"/debian/*.debhelper.log \
    "$src"/debian/*.substvars "$src"/debian/files
  nc=(-nc)
fi
echo "build-deb.sh: building tern $version from $short in $src${reuse:+ (reusing its build tree)}" >&2
(
  cd "$src"
  export DEB_BUILD_OPTIONS="parallel=${TERN_DEB_JOBS:-2} nocheck${DEB_BUILD_OPTIONS:+ $DEB_BUILD_OPTIONS}"
  # The clone's timestamp for reproducible file dates.
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct "$commit")
  export SOURCE_DATE_EPOCH
  dpkg-buildpackage -b -us -uc "${nc[@]}"
) >"$work/build.log" 2>&1 || {
  tail -n 40 "$work/build.log" >&2
  die "dpkg-buildpackage failed (log: $work/build.log)"
}

shopt -s nullglob
files=("$work"/tern*_"${version#*:}"_*.deb "$work"/tern*_"${version#*:}"_*.ddeb
  "$work"/tern_"${version#*:}"_*.buildinfo "$work"/tern_"${version#*:}"_*.changes)
((${#files[@]} >= 3)) || die "no packages found in $work"
cp "${files[@]}" "$out/"
for f in "${files[@]}"; do echo "$out/${f##*/}"; done
