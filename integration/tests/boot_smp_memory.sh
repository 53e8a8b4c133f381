# `runvm boot --cpus N --memory MIB`: the guest init reports N vCPUs and a
# MemTotal that fits MIB (the kernel keeps a little for itself, so it is a
# bit less). Two sizes, so that a runvm ignoring the flags cannot pass.

# expect_guest CPUS MIB MIN_MEM_TOTAL_MIB
expect_guest() {
	cpus=$1 mib=$2 min_mib=$3
	output=$("$RUNVM" boot --cpus "$cpus" --memory "$mib" 2>&1)
	status=$?
	report=$(echo "$output" | grep "runvm-init: cpus=")
	echo "--- runvm boot --cpus $cpus --memory $mib: exit $status: $report"
	if [ "$status" != 0 ] || [ -z "$report" ]; then
		echo "$output"
		echo "FAIL: expected exit 0 and a 'runvm-init: cpus=N mem_total_kib=M' line"
		return 1
	fi
	seen_cpus=$(echo "$report" | sed -n 's/.*cpus=\([0-9]*\).*/\1/p')
	seen_kib=$(echo "$report" | sed -n 's/.*mem_total_kib=\([0-9]*\).*/\1/p')
	[ "$seen_cpus" = "$cpus" ] || { echo "FAIL: guest sees $seen_cpus vCPUs, not $cpus"; return 1; }
	if [ "$seen_kib" -le $((min_mib * 1024)) ] || [ "$seen_kib" -gt $((mib * 1024)) ]; then
		echo "FAIL: MemTotal $seen_kib KiB is not in ($min_mib MiB, $mib MiB]"
		return 1
	fi
}

expect_guest 2 512 450 && expect_guest 1 256 200
