#!/bin/bash
# verify-reproducible.sh: build moatd (and moatctl, and the .deb) twice
# from the same source, in two directories with different absolute paths,
# the second with an empty build cache, and compare the sha256 sums. Exit
# status 0 only if every artifact is byte-identical.
#
# The source is the working tree: tracked and untracked files that git
# does not ignore (VERIFY_SOURCE=HEAD takes the last commit instead, which
# is what an auditor checking a release does).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
make=${MAKE:-make}
source_kind=${VERIFY_SOURCE:-worktree}
export LC_ALL=C

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git -C "$top" log -1 --format=%ct 2>/dev/null || echo 1)
fi
export SOURCE_DATE_EPOCH

# Two places whose paths differ in name and length.
a=$(mktemp -d "${TMPDIR:-/tmp}/moat-repro-a.XXXXXX")
b=$(mktemp -d "${TMPDIR:-/tmp}/moat-reproducible-build-second-tree.XXXXXX")
trap 'chmod -R u+w "$a" "$b" 2>/dev/null; rm -rf "$a" "$b"' EXIT

copy_source() {
	mkdir -p "$1/src"
	if [ "$source_kind" = HEAD ]; then
		git -C "$top" archive HEAD | tar -x -C "$1/src"
	elif git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
		(cd "$top" && git ls-files -z --cached --others --exclude-standard |
			while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
			tar --null -T - -cf -) | tar -x -C "$1/src"
	else
		(cd "$top" && tar --exclude=./bin -cf - .) | tar -x -C "$1/src"
	fi
}

build_in() { # dir gocache
	(
		cd "$1/src"
		# Only what the Makefile passes may influence the build.
		env -u GOFLAGS GOCACHE="$2" GOTOOLCHAIN=local GOPROXY=off CGO_ENABLED=0 \
			"$make" --no-print-directory deb DEB_DIR="$1/out" >"$1/build.log" 2>&1 ||
			{ cat "$1/build.log" >&2; exit 1; }
	)
}

copy_source "$a"
copy_source "$b"
echo "== build 1 in $a (the usual build cache)"
build_in "$a" "$(go env GOCACHE)"
echo "== build 2 in $b (an empty build cache)"
mkdir -p "$b/gocache"
build_in "$b" "$b/gocache"

status=0
for artifact in src/bin/moatd src/bin/moatctl out/*.deb; do
	for f in "$a"/$artifact; do
		[ -e "$f" ] || continue
		rel=${f#"$a"/}
		sa=$(sha256sum <"$f" | cut -d' ' -f1)
		sb=$(sha256sum <"$b/$rel" 2>/dev/null | cut -d' ' -f1 || true)
		if [ "$sa" = "$sb" ]; then
			echo "identical  $sa  ${rel##*/}"
		else
			echo "DIFFERENT  ${rel##*/}: $sa vs ${sb:-missing}"
			status=1
		fi
	done
done
if [ $status -ne 0 ]; then
	echo "verify-reproducible: the builds differ" >&2
else
	echo "verify-reproducible: $(go version | cut -d' ' -f3), SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH: all identical"
fi
exit $status
