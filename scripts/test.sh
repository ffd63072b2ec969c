#!/bin/bash
# test.sh - installs what is missing, builds vifd three times (gcc; clang with
# ASan+UBSan; clang with TSan) and runs the whole test suite in the first two
# builds: unit tests, the fuzz corpus and crash replays, integration
# scenarios (DPDK testpmd, libvif, hostile guests, restarts, switch policy)
# and real QEMU guests; the TSan build runs the unit tests (the concurrent
# ones: MAC table, qsbr through the control tests, libvif threads). Ends with
# one line "N passed, N failed". Run as root on Debian 12: ./scripts/test.sh
set -uo pipefail
cd "$(dirname "$0")/.."
# Debian's tools first (meson, python3): what the suite was written for.
export PATH="/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}"

./scripts/deps.sh || { echo "0 passed, 1 failed"; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

pass=0
fail=0
# build DIR CC MESON-ARGS...: configures (once) and builds with -Werror.
build() {
	local dir=$1 cc=$2; shift 2
	if [ ! -f "$dir/build.ninja" ]; then
		CC=$cc meson setup "$dir" --werror "$@" >"/tmp/vifd-$(basename "$dir").setup.log" 2>&1 ||
			{ cat "/tmp/vifd-$(basename "$dir").setup.log"; return 1; }
	fi
	ninja -C "$dir"
}

# suite DIR [MESON-TEST-ARGS]: runs the tests of a build and adds meson's counts.
suite() {
	local dir=$1 out ok bad
	shift
	out=$(meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" 2>&1)
	echo "$out" | grep -vE '^EAL' | tail -n 400
	ok=$(echo "$out" | awk '/^Ok:/ {print $2}')
	bad=$(echo "$out" | awk '/^(Fail|Timeout|Unexpected Pass):/ {s+=$NF} END {print s+0}')
	pass=$((pass + ${ok:-0}))
	fail=$((fail + ${bad:-0}))
	[ -n "$ok" ] || fail=$((fail + 1)) # meson itself failed
}

echo "== gcc build"
if build build gcc; then suite build; else fail=$((fail + 1)); fi
echo "== clang build with AddressSanitizer + UndefinedBehaviorSanitizer"
if build build-asan clang -Db_sanitize=address,undefined -Db_lundef=false; then
	# the unit, fuzz-replay, hostile and datapath scenarios; QEMU guests
	# and the benchmark harness once, in the gcc build
	suite build-asan --no-suite guest --no-suite bench
else
	fail=$((fail + 1))
fi
echo "== clang build with ThreadSanitizer: unit tests (MAC table, control, rings, libvif)"
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1}
if build build-tsan clang -Db_sanitize=thread -Db_lundef=false; then
	suite build-tsan --suite unit
else
	fail=$((fail + 1))
fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
