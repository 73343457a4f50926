#!/bin/bash
# build-deb.sh MOATD MOATCTL OUTDIR: package already-built binaries as
# OUTDIR/moat_VERSION_ARCH.deb with dpkg-deb alone (no debhelper), and
# print the .deb's path. MOATCTL may be "" while cmd/moatctl does not exist.
#
# The .deb is reproducible: every file's mtime is SOURCE_DATE_EPOCH (the
# commit's time unless the caller set it), owners are root:root, modes are
# explicit, dpkg-deb sorts the members, and gzip carries no timestamp.
set -euo pipefail

moatd=${1:?usage: build-deb.sh MOATD MOATCTL OUTDIR}
moatctl=${2-}
out=${3:?usage: build-deb.sh MOATD MOATCTL OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
umask 022
export LC_ALL=C TZ=UTC
go=${GO:-go}

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git -C "$top" log -1 --format=%ct 2>/dev/null || echo 1)
fi
export SOURCE_DATE_EPOCH

version=${DEB_VERSION:-$(sed -n 's/^const Version = "\(.*\)"$/\1/p' "$top/masterd/run.go")}
[ -n "$version" ] || { echo "build-deb: cannot find masterd.Version" >&2; exit 1; }
case "$("$go" env GOARCH)" in
	386) arch=i386 ;;
	arm) arch=armhf ;;
	*) arch=$("$go" env GOARCH) ;;
esac

stage=$(mktemp -d "${TMPDIR:-/tmp}/moat-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/root
install -d -m 0755 "$root/DEBIAN" "$root/usr/sbin" "$root/usr/bin" \
	"$root/usr/lib/systemd/system" "$root/usr/share/man/man8" \
	"$root/usr/share/doc/moat" "$root/etc/moat"

install -m 0755 "$moatd" "$root/usr/sbin/moatd"
if [ -n "$moatctl" ]; then
	install -m 0755 "$moatctl" "$root/usr/bin/moatctl"
else
	rmdir "$root/usr/bin"
fi
install -m 0644 "$top"/contrib/systemd/moatd.service "$top"/contrib/systemd/moatd-unprivileged.service "$root/usr/lib/systemd/system/"
install -m 0644 "$here/moatd.conf" "$root/etc/moat/moatd.conf"
shopt -s nullglob
for page in "$top"/man/*.8; do
	# A page for a command the package does not ship would mislead.
	[ "$(basename "$page")" = moatctl.8 ] && [ -z "$moatctl" ] && continue
	gzip -9n <"$page" >"$root/usr/share/man/man8/$(basename "$page").gz"
	chmod 0644 "$root/usr/share/man/man8/$(basename "$page").gz"
done
shopt -u nullglob
rmdir --ignore-fail-on-non-empty "$root/usr/share/man/man8" "$root/usr/share/man"

# The modules compiled into the binary, from its own build information.
modules=$("$go" version -m "$moatd" | awk '$1 == "dep" { print " " $2 " " $3 }')
awk -v mods="$modules" '{ if ($0 == "@MODULES@") print mods; else print }' \
	"$here/copyright.in" >"$root/usr/share/doc/moat/copyright"
for doc in README.md SECURITY.md; do
	gzip -9n <"$top/$doc" >"$root/usr/share/doc/moat/$doc.gz"
done
chmod 0644 "$root"/usr/share/doc/moat/*

for script in postinst prerm postrm; do
	install -m 0755 "$here/deb/$script" "$root/DEBIAN/$script"
done
echo /etc/moat/moatd.conf >"$root/DEBIAN/conffiles"
size=$(du -sk --apparent-size --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
	"$here/deb/control.in" >"$root/DEBIAN/control"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles"

find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$out"
deb="$out/moat_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zgzip -z9 --build "$root" "$deb" >/dev/null
echo "$deb"
