#!/bin/sh
# tests/deps.sh - make sure the Debian packages pdcrash needs are installed.
#
# Called by every make target that builds or tests.  Missing packages are
# installed with apt-get when running as root (one `apt-get update` first);
# otherwise the exact command is printed and the script exits 2.
# PD_SKIP_DEPS=1 skips the check (for machines that provide the tools some
# other way).
set -u

PACKAGES="gcc make libfiu-dev fiu-utils python3 python3-pytest
python3-fiu valgrind gcovr thin-provisioning-tools time clang-14"

[ "${PD_SKIP_DEPS:-0}" = 1 ] && exit 0

missing=""
for p in $PACKAGES; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
	case "$status" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing Debian packages:$missing" >&2
	echo "deps: run as root:  apt-get update && $cmd" >&2
	exit 2
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -qq >&2; then
	echo "deps: apt-get update failed" >&2
	exit 2
fi
# shellcheck disable=SC2086
if ! apt-get install -y -qq --no-install-recommends $missing >&2; then
	echo "deps: failed: $cmd" >&2
	exit 2
fi
exit 0
