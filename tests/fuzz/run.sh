#!/bin/sh
# tests/fuzz/run.sh - `make fuzz`'s two steps.
#
#   run.sh check CC            exit 2 (saying so) unless CC can build a
#                              libFuzzer target with ASan and UBSan
#   run.sh run DIR TARGET...   run DIR/TARGET for $FUZZ_SECONDS each on
#                              build/fuzz/corpus/TARGET (grown) plus the
#                              seeds and regression inputs in tests/fuzz/;
#                              a crash leaves DIR/crash-TARGET-* and the run
#                              fails (exit 1); prints per target the
#                              executions, coverage and seconds
set -u

case "${1:-}" in
check)
	cc=${2:-clang}
	tmp=$(mktemp -d) || exit 2
	printf '%s\n' '#include <stdint.h>' '#include <stddef.h>' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
		'{ (void)d; (void)n; return 0; }' > "$tmp/t.c"
	if ! command -v "$cc" >/dev/null 2>&1; then
		echo "make fuzz: no '$cc': libFuzzer needs clang (Debian: apt-get install clang libclang-rt-14-dev); nothing fuzzed" >&2
		rm -rf "$tmp"
		exit 2
	fi
	if ! "$cc" -fsanitize=fuzzer,address,undefined -o "$tmp/t" "$tmp/t.c" \
		>"$tmp/log" 2>&1; then
		cat "$tmp/log" >&2
		echo "make fuzz: '$cc' cannot link a libFuzzer target (Debian: apt-get install libclang-rt-14-dev); nothing fuzzed" >&2
		rm -rf "$tmp"
		exit 2
	fi
	rm -rf "$tmp"
	exit 0
	;;
run)
	dir=$2
	shift 2
	secs=${FUZZ_SECONDS:-60}
	rc=0
	summary=""
	for t in "$@"; do
		mkdir -p "$dir/corpus/$t"
		set -- "$dir/corpus/$t"
		[ -d "tests/fuzz/corpus/$t" ] && set -- "$@" "tests/fuzz/corpus/$t"
		[ -d "tests/fuzz/regress/$t" ] && set -- "$@" "tests/fuzz/regress/$t"
		echo "== $t: $secs s" >&2
		"$dir/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
			-max_len=65536 -close_fd_mask=3 -print_final_stats=1 \
			-artifact_prefix="$dir/crash-$t-" "$@" >"$dir/$t.log" 2>&1
		r=$?
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/$t.log")
		cov=$(grep -o 'cov: [0-9]*' "$dir/$t.log" | tail -1 | cut -d' ' -f2)
		ft=$(grep -o 'ft: [0-9]*' "$dir/$t.log" | tail -1 | cut -d' ' -f2)
		line=$(printf '%-18s execs %10s  cov %6s  ft %6s  %4s s  %s' "$t" \
			"${execs:-?}" "${cov:-?}" "${ft:-?}" "$secs" \
			"$([ $r = 0 ] && echo ok || echo "CRASH (exit $r, $dir/$t.log)")")
		echo "$line" >&2
		summary="$summary$line
"
		[ $r = 0 ] || { tail -60 "$dir/$t.log" >&2; rc=1; }
	done
	echo "== make fuzz: $(nproc) cores, $(uname -m), $(sed -n 's/^model name.*: //p' /proc/cpuinfo | head -1)"
	printf '%s' "$summary"
	exit $rc
	;;
*)
	echo "usage: run.sh check CC | run DIR TARGET..." >&2
	exit 2
	;;
esac
