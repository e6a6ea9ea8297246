#!/usr/bin/env bash
# Writes the configs the Debian packages install in /etc/tern from the
# commented examples in config/, so the two never drift apart:
#   relay.yml     projects from /etc/tern/projects.yml, spool in
#                 /var/lib/tern/spool
#   projects.yml  as in config/
#   backend.yml   SQLite in /var/lib/tern/tern.db, auth.api_token empty (the
#                 backend refuses to start until the operator sets one; a
#                 placeholder secret would be the same on every host)
# Every replacement must match the example exactly once or more as stated;
# if an example changes so that one no longer matches, this fails rather than
# ship a config with a source-tree path in it.
#   packaging/make-configs.sh SRC_DIR OUT_DIR
set -euo pipefail
src=${1:?usage: make-configs.sh SRC_DIR OUT_DIR}
out=${2:?usage: make-configs.sh SRC_DIR OUT_DIR}
mkdir -p "$out"

# replace FILE OLD NEW: every literal occurrence of OLD; at least one.
replace() {
  local file=$1 old=$2 new=$3 n
  n=$(OLD=$old perl -0777 -ne '$n += () = /\Q$ENV{OLD}\E/g; END { print $n + 0 }' "$file")
  if ((n == 0)); then
    echo "make-configs.sh: $file: '$old' not found" >&2
    exit 1
  fi
  OLD=$old NEW=$new perl -0777 -pi -e 's/\Q$ENV{OLD}\E/$ENV{NEW}/g' "$file"
}

header='# Installed by the Debian package as a conffile: your edits are kept on
# upgrade (dpkg asks when the packaged version changes too). The spool and
# the SQLite file live in /var/lib/tern (the tern user'"'"'s StateDirectory).
#'

{ echo "$header"; cat "$src/relay.yml"; } >"$out/relay.yml"
replace "$out/relay.yml" "config/relay.yml" "/etc/tern/relay.yml"
replace "$out/relay.yml" "  file: config/projects.yml" "  file: /etc/tern/projects.yml"
replace "$out/relay.yml" "  dir: var/spool" "  dir: /var/lib/tern/spool"

{ echo "$header"; cat "$src/projects.yml"; } >"$out/projects.yml"

{ echo "$header"; cat "$src/backend.yml"; } >"$out/backend.yml"
replace "$out/backend.yml" "config/backend.yml" "/etc/tern/backend.yml"
replace "$out/backend.yml" '  dsn: "sqlite:var/tern.db"' '  dsn: "sqlite:/var/lib/tern/tern.db"'
replace "$out/backend.yml" '  # Required, at least 16 characters. This example value is a placeholder.
  api_token: "change-me-to-a-long-random-secret"' '  # Required, at least 16 characters. Empty in the package, so tern-backend
  # does not start until you set one, e.g. the output of
  #   head -c 24 /dev/urandom | base64
  # then: systemctl restart tern-backend
  api_token: ""'

# What must not survive: a relative path into a source tree or its var/
# outside a comment.
if grep -nE '^[^#]*[ :"](config|var)/' "$out"/*.yml; then
  echo "make-configs.sh: a source-tree path is left (above)" >&2
  exit 1
fi
