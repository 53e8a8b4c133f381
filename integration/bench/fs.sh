# virtio-fs against the host's own file system: one run of the same
# workload in a container (on its rootfs, served over virtio-fs from a
# directory of this host) and on this host, in a directory of the same
# file system: sequential write (with fsync) and read of a 256 MiB file,
# and create, stat and unlink of 10,000 files. The same busybox dd and
# vmctl on both sides, each timed by `vmctl time` (the VM's boot is not in
# the measure). The container reads the file back through a new open,
# which drops the guest's page cache for it (virtio-fs cache=auto): the
# read goes to the host. Then the same in a container whose share the
# guest caches for a day (io.runvm.share_cache=always), where a stat is
# answered from the guest's dentry cache (the 256 MiB file does not fit
# the guest's page cache, so its read still goes to the host).
# With BASELINE_RUNVM (another runvm binary) the container's workload runs
# with it too, right after.

. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
. "$TEST_LIB/bench.sh"
root=$PWD/root
r=bundle/rootfs
mib=256
files=10000
make_bundle bundle "sh /fsbench.sh /bench vmctl busybox" || fail "could not make the bundle"
add_vmctl $r || fail "could not put vmctl in the rootfs"

# The workload: fsbench.sh DIR VMCTL BUSYBOX, one "measure seconds" line
# per step.
cat >$r/fsbench.sh <<EOF
set -e
dir=\$1 vmctl=\$2 busybox=\$3
mkdir -p "\$dir/many"
echo "write \$("\$vmctl" time "\$busybox" dd if=/dev/zero of="\$dir/big" bs=1048576 count=$mib conv=fsync status=none)"
echo "read \$("\$vmctl" time "\$busybox" dd if="\$dir/big" of=/dev/null bs=1048576 status=none)"
echo "create \$("\$vmctl" time "\$vmctl" files create "\$dir/many" $files)"
echo "stat \$("\$vmctl" time "\$vmctl" files stat "\$dir/many" $files)"
echo "unlink \$("\$vmctl" time "\$vmctl" files unlink "\$dir/many" $files)"
rm -r "\$dir"
EOF

"$RUNVM" --root "$root" run --bundle bundle fsbench >vm.out 2>vm.err </dev/null \
	|| { cat vm.out vm.err; fail "the workload failed in the container"; }
if [ -n "${BASELINE_RUNVM:-}" ]; then
	"$BASELINE_RUNVM" --root "$root" run --bundle bundle fsbench-baseline >baseline.out 2>baseline.err </dev/null \
		|| { cat baseline.out baseline.err; fail "the workload failed in the baseline's container"; }
fi
# The same workload with the share cached for a day (the annotation
# io.runvm.share_cache=always), in a copy of the bundle.
cp -r bundle cached
annotate cached io.runvm.share_cache always || fail "could not annotate the bundle"
"$RUNVM" --root "$root" run --bundle cached fsbench-cached >cached.out 2>cached.err </dev/null \
	|| { cat cached.out cached.err; fail "the workload failed in the cached share's container"; }
sh $r/fsbench.sh "$PWD/hostbench" "$VMCTL" "$BUSYBOX" >host.out 2>host.err \
	|| { cat host.out host.err; fail "the workload failed on the host"; }

# seconds FILE MEASURE
seconds() {
	awk -v m="$2" '$1 == m && $2 > 0 { print $2 }' "$1"
}
# rate SECONDS: $amount per second.
rate() {
	awk -v n="$amount" -v t="$1" 'BEGIN { printf "%.1f", n / t }'
}
echo "virtio-fs vs this host's own file system (one run; rates, higher is better)"
printf "%-36s %10s %10s %10s\n" measure runvm host runvm/host
for measure in write read create stat unlink; do
	vm=$(seconds vm.out $measure) host=$(seconds host.out $measure)
	[ -n "$vm" ] && [ -n "$host" ] || { cat vm.out host.out; fail "no time for $measure"; }
	case $measure in
	write | read) amount=$mib unit="MiB/s" label="sequential $measure, $mib MiB" ;;
	*) amount=$files unit="files/s" label="$measure $files files" ;;
	esac
	awk -v label="$label" -v unit="$unit" -v n="$amount" -v vm="$vm" -v host="$host" 'BEGIN {
		printf "%-36s %10s %10s %10.3f\n", label " (" unit ")", sprintf("%.1f", n / vm), sprintf("%.1f", n / host), host / vm
	}'
	row_values fs "virtio-fs: $label (one run)" "$unit" "$(rate "$vm")" "host tmpfs" "$(rate "$host")"
	cached=$(seconds cached.out $measure)
	[ -n "$cached" ] || { cat cached.out; fail "no time for $measure with the cached share"; }
	row_values fs "virtio-fs, share_cache=always: $label (one run)" "$unit" "$(rate "$cached")" "host tmpfs" "$(rate "$host")"
	if [ -n "${BASELINE_RUNVM:-}" ]; then
		baseline=$(seconds baseline.out $measure)
		[ -n "$baseline" ] || { cat baseline.out; fail "no baseline time for $measure"; }
		row_values fs "virtio-fs: $label (one run)" "$unit" "$(rate "$vm")" "runvm baseline" "$(rate "$baseline")"
	fi
done
nothing_under "$root"
