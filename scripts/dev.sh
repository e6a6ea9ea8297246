#!/usr/bin/env bash
# Runs the Tern stack on embedded defaults: installs dependencies, builds
# Release, then starts what exists. Today the stack cannot start:
# tern-backend is not built yet (see README.md, "Status").
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build

missing=()
for bin in tern-relay tern-backend; do
  [[ -x build/bin/$bin ]] || missing+=("$bin")
done
if ((${#missing[@]})); then
  cat <<MSG

Built: build/bin/tern-relay (with the protocol, net, config and relay
libraries, their tests and benchmarks). README.md, "Running the relay by
hand", shows how to run it against a Kafka broker.
Not there yet: ${missing[*]}. There is no stack to start until they exist;
./scripts/test.sh runs every test that does exist.
MSG
  exit 0
fi
