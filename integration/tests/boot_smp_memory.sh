# `runvm boot --cpus N --memory MIB`: the guest init reports N vCPUs and a
# MemTotal that fits MIB (the kernel keeps a little for itself, so it is a
# bit less). Two sizes, so that a runvm ignoring the flags cannot pass.
. "$TEST_LIB/guest.sh"
set -o pipefail

# expect_guest CPUS MIB MIN_MEM_TOTAL_MIB
expect_guest() {
	cpus=$1 mib=$2 min_mib=$3
	echo "--- runvm boot --cpus $cpus --memory $mib"
	"$RUNVM" boot --cpus "$cpus" --memory "$mib" 2>&1 | tee boot.log
	status=$?
	report=$(grep "runvm-init: cpus=" boot.log)
	echo "--- exit $status: $report"
	[ "$status" = 0 ] || fail "runvm boot should exit 0"
	[ -n "$report" ] || fail "no 'runvm-init: cpus=N mem_total_kib=M' line"
	seen_cpus=$(echo "$report" | sed -n 's/.*cpus=\([0-9]*\).*/\1/p')
	seen_kib=$(echo "$report" | sed -n 's/.*mem_total_kib=\([0-9]*\).*/\1/p')
	[ "$seen_cpus" = "$cpus" ] || fail "the guest sees $seen_cpus vCPUs, not $cpus"
	if [ "$seen_kib" -le $((min_mib * 1024)) ] || [ "$seen_kib" -gt $((mib * 1024)) ]; then
		fail "MemTotal $seen_kib KiB is not in ($min_mib MiB, $mib MiB]"
	fi
}

expect_guest 2 512 450
expect_guest 1 256 200
