#!/usr/bin/env bash
# Runs every Go fuzz target in the repository for $FUZZTIME each (default
# 5s). Output is shown only for a target that fails.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-5s}
status=0
while read -r file; do
  pkg=$(dirname "$file")
  for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -d' ' -f2); do
    printf -- '-- %s %s (%s)\n' "$pkg" "$target" "$FUZZTIME"
    if ! out=$("$GO" test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg" 2>&1); then
      printf '%s\n' "$out" | tail -40
      status=1
    fi
  done
done < <(grep -rl --include='*_test.go' '^func Fuzz' . | sort)
exit $status
