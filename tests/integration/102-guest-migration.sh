#!/bin/bash
# 102-guest-migration: live migration of a QEMU guest between two vifd
# ports (tests/lib/migration-once.sh says what one attempt shows: the
# migration completes, the stream the guest receives during it arrives
# intact, pings are answered, vifd's MAC table has the guest on the new
# port within 1 s; downtime reported).
#
# Why up to three attempts: QEMU 7.2 under TCG (no KVM here) now and then
# corrupts a migrated guest's memory by itself. A control run of the same
# guest, the same migration and the same stream, with QEMU's own user-mode
# NIC instead of vifd, showed the same guest kernel reports (Bad page
# state, list_del corruption) and a stream whose MD5 differed, in 2 of 16
# migrations; with vifd the rate was about the same (1 of 8, 2 of 25).
# So an attempt that fails because of the guest's memory (migration-once
# says GUEST-MEMORY) is tried again; any other failure (QEMU refusing or
# not completing the migration, no dirty log, the MAC not moved in time,
# pings lost, ring errors) fails the test at once, and so do three memory
# failures in a row.
set -uo pipefail
once=$(dirname "$0")/../lib/migration-once.sh
for attempt in 1 2 3; do
	out=$(bash "$once" 2>&1)
	rc=$?
	printf '%s\n' "$out" | sed "s/^/[102 attempt $attempt] /"
	case $rc in
	0) echo "[102-guest-migration] PASS (attempt $attempt)"; exit 0 ;;
	77) exit 77 ;;
	esac
	printf '%s\n' "$out" | grep -q "FAIL: GUEST-MEMORY" || {
		echo "[102-guest-migration] FAIL: attempt $attempt failed for a reason not in the guest's memory"
		exit 1
	}
	echo "[102-guest-migration] attempt $attempt: the guest's memory came through damaged (QEMU/TCG, see above); trying again"
done
echo "[102-guest-migration] FAIL: three attempts in a row with the guest's memory damaged"
exit 1
