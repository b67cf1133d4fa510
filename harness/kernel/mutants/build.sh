#!/bin/sh
# harness/kernel/mutants/build.sh - build pdcrash on a patched copy of the
# kernel tree, once per kernel mutant (make mutants; tests/mutants.py).
#
#   sh harness/kernel/mutants/build.sh B NAME...   NAME: a NAME.patch here
#
# Per mutant: B/kmutants/NAME/linux is a copy of the fetched 6.1 tree
# (B/kernel/6.1, the kernel's own files only) with NAME.patch applied
# (patch -p1); then `make B=B/kmutants/NAME KERNEL_SRC=that KERNEL_VERSIONS=
# custom` builds B/kmutants/NAME/pdcrash, whose --backend kernel is the
# mutant.  The copy is made again only when the patch changed (a copy of the
# patch beside it is the stamp); make rebuilds only what changed, so a
# second `make mutants` costs seconds.  Nothing here edits B/kernel/6.1.
#
# Exit: 0 built; 3 the 6.1 sources were not fetched (KERNEL=0 machines);
# anything else a real error (a patch that does not apply, a build error).
set -eu

B=$1
shift
SRC=$B/kernel/6.1
HERE=$(dirname "$0")
[ -f "$SRC/.fetched" ] || { echo "build.sh: $SRC not fetched" >&2; exit 3; }
for name in "$@"; do
	p=$HERE/$name.patch
	d=$B/kmutants/$name
	[ -f "$p" ] || { echo "build.sh: no patch $p" >&2; exit 2; }
	if ! cmp -s "$p" "$d/linux.patch" 2>/dev/null; then
		rm -rf "$d/linux" "$d/kernel" "$d/linux.patch"
		mkdir -p "$d/linux"
		for m in Makefile LICENSES include drivers; do
			cp -R "$SRC/$m" "$d/linux/"
		done
		patch -s -p1 -d "$d/linux" < "$p"
		cp "$p" "$d/linux.patch"
	fi
	make -s -j2 -C "$HERE/../../.." B="$(cd "$d" && pwd)" \
		KERNEL_SRC="$(cd "$d/linux" && pwd)" KERNEL_VERSIONS=custom \
		"$(cd "$d" && pwd)/pdcrash" >"$d/build.log" 2>&1 || {
		tail -30 "$d/build.log" >&2
		echo "build.sh: building $name failed ($d/build.log)" >&2
		exit 1
	}
done
