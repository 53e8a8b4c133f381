# stdout throughput: 256 MiB written by `dd` in a guest process, relayed by
# the agent, vsock and the monitor to the caller's pipe, against the same
# `dd` into a plain pipe on this host. Each side times its own dd with
# /proc/uptime (10 ms resolution), so the VM's boot is not in the measure.
# Several runs each, alternating.

. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bench.sh"
bb=$(busybox_initrd) || fail "could not build the busybox initrd"
runs=5
mib=256

# The writer: dd between two readings of /proc/uptime, "START END" on stderr.
writer='read start rest </proc/uptime; /bin/busybox dd if=/dev/zero bs=1048576 count='$mib' 2>/dev/null; read end rest </proc/uptime; echo "$start $end" >&2'

# rate FILE: MiB/s from the "START END" line in FILE.
rate() {
	awk -v mib="$mib" 'NF == 2 && $2 > $1 { printf "%.1f\n", mib / ($2 - $1) }' "$1" | tail -1
}

echo "stdout throughput in MiB/s ($runs runs each, $mib MiB in 1 MiB writes)"
printf "%-8s %10s %10s\n" run runvm pipe
run=1
while [ "$run" -le "$runs" ]; do
	"$RUNVM" boot --memory 256 --extra-initrd "$bb" -- sh -c "$writer" 2>vm.err | cat >/dev/null
	sh -c "$writer" 2>pipe.err | cat >/dev/null
	vm=$(rate vm.err) pipe=$(rate pipe.err)
	[ -n "$vm" ] && [ -n "$pipe" ] || { cat vm.err pipe.err; fail "no timing from one of the writers"; }
	printf "%-8s %10s %10s\n" "$run" "$vm" "$pipe"
	echo "$vm" >>vm.rate
	echo "$pipe" >>pipe.rate
	run=$((run + 1))
done

printf "%-8s %10s %10s\n" median "$(median vm.rate)" "$(median pipe.rate)"
row io "stdout of a guest process to the caller's pipe, $mib MiB" "MiB/s" vm.rate "plain pipe" pipe.rate
