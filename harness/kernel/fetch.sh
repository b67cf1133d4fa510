#!/bin/sh
# harness/kernel/fetch.sh - put the Linux sources the kernel backend compiles
# into build/kernel/<VERSION>/, unmodified.
#
#   sh harness/kernel/fetch.sh B VERSION     VERSION is 6.1 or 6.12
#   sh harness/kernel/fetch.sh B custom      copies from $KERNEL_SRC
#
# B is the build directory (build).  For 6.1 and 6.12 the Debian package
# linux-source-VERSION is downloaded once into B/kernel/deb/ (apt-get
# download, after one `apt-get update` if apt knows no such package), and
# only the members below are extracted from its inner tarball.  For custom,
# the same members are copied from the developer's tree $KERNEL_SRC and the
# version (VERSION.PATCHLEVEL.SUBLEVEL of its Makefile) is written to
# B/kernel/custom/KERNELVERSION.
#
# The tree B/kernel/<VERSION>/ mirrors the kernel's paths, so a planted-bug
# patch applies to a copy with `patch -p1 -d COPY`.  Nothing here is ever
# edited.  B/kernel/<VERSION>/.fetched is written last: it is the make stamp.
#
# Exit status: 0 done, 3 the sources cannot be had (no apt, no network, no
# such package: the kernel tests report SKIP), anything else a real error.
set -eu

B=$1
V=$2
D=$B/kernel/$V

MEMBERS="Makefile
LICENSES/preferred/GPL-2.0
include/linux/dm-bufio.h
drivers/md/persistent-data
drivers/md/dm-thin-metadata.c
drivers/md/dm-thin-metadata.h
drivers/md/dm-cache-metadata.c
drivers/md/dm-cache-metadata.h
drivers/md/dm-cache-block-types.h
drivers/md/dm-cache-policy.h
drivers/md/dm-cache-policy-internal.h
drivers/md/dm-cache-background-tracker.h"

[ -f "$D/.fetched" ] && exit 0
rm -rf "$D"
mkdir -p "$D"

if [ "$V" = custom ]; then
	: "${KERNEL_SRC:?KERNEL_SRC is not set}"
	for m in $MEMBERS; do
		[ -e "$KERNEL_SRC/$m" ] || continue
		mkdir -p "$D/$(dirname "$m")"
		cp -R "$KERNEL_SRC/$m" "$D/$(dirname "$m")/"
	done
	awk -F' *= *' '$1=="VERSION"{v=$2} $1=="PATCHLEVEL"{p=$2}
		$1=="SUBLEVEL"{s=$2} END{print v "." p "." s}' \
		"$KERNEL_SRC/Makefile" > "$D/KERNELVERSION"
	touch "$D/.fetched"
	exit 0
fi

DEBDIR=$B/kernel/deb
PKG=linux-source-$V
mkdir -p "$DEBDIR"
deb=$(ls "$DEBDIR"/"${PKG}"_*.deb 2>/dev/null | tail -n 1 || true)
if [ -z "$deb" ]; then
	command -v apt-get >/dev/null 2>&1 || { echo "fetch: no apt-get" >&2; exit 3; }
	if ! apt-cache show "$PKG" >/dev/null 2>&1; then
		if [ "$(id -u)" = 0 ]; then
			apt-get update -qq >&2 || true
		fi
	fi
	apt-cache show "$PKG" >/dev/null 2>&1 || {
		echo "fetch: apt knows no package $PKG" >&2; exit 3; }
	# apt's sandbox user may not write into build/: download from a
	# scratch directory it can write, then move the file in.
	tmp=$(mktemp -d)
	chmod 755 "$tmp"
	if ! (cd "$tmp" && apt-get download -qq "$PKG" >&2); then
		rm -rf "$tmp"
		echo "fetch: apt-get download $PKG failed" >&2
		exit 3
	fi
	mv "$tmp"/*.deb "$DEBDIR"/
	rm -rf "$tmp"
	deb=$(ls "$DEBDIR"/"${PKG}"_*.deb | tail -n 1)
fi

# The package holds usr/src/linux-source-V.tar.xz whose members start with
# linux-source-V/.  Extract only ours, straight from the pipe.
tops=""
for m in $MEMBERS; do
	tops="$tops linux-source-$V/$m"
done
tmp=$D.tmp
rm -rf "$tmp"
mkdir -p "$tmp"
# shellcheck disable=SC2086
dpkg-deb --fsys-tarfile "$deb" |
	tar -xO "./usr/src/linux-source-$V.tar.xz" |
	tar -xJ -C "$tmp" $tops
cp -R "$tmp/linux-source-$V/." "$D/"
rm -rf "$tmp"
dpkg-deb -f "$deb" Version > "$D/DEBVERSION"
awk -F' *= *' '$1=="VERSION"{v=$2} $1=="PATCHLEVEL"{p=$2}
	$1=="SUBLEVEL"{s=$2} END{print v "." p "." s}' "$D/Makefile" > "$D/KERNELVERSION"
touch "$D/.fetched"
