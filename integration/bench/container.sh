# A container, runvm against runc, same bundle (busybox rootfs), same
# machine: the time `run` takes from process start to the container's
# first line of output (runvm boots a VM; runc makes namespaces), and the
# host memory an idle container costs (the drop in MemAvailable while it
# runs; neither runtime has a shim here). Needs RUNC and BOOT_TIMER besides the usual variables. Inside
# the test host the times carry TCG's overhead; compare the columns.
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"

runs=5
make_bundle bundle 'echo bench-ready' || fail "could not make the bundle"
make_bundle idle 'echo started; exec sleep 1000' || fail "could not make the idle bundle"

echo "container run to its first output line in ms ($runs runs each)"
printf "%-8s %10s %10s\n" run runvm runc
run=1
while [ "$run" -le "$runs" ]; do
	runvm_ms=$("$BOOT_TIMER" bench-ready "$RUNVM" --root "$PWD/runvm-root" run --bundle bundle "v$run") \
		|| fail "runvm run failed"
	runc_ms=$("$BOOT_TIMER" bench-ready "$RUNC" --root "$PWD/runc-root" run --bundle bundle "c$run") \
		|| fail "runc run failed"
	printf "%-8s %10s %10s\n" "$run" "$runvm_ms" "$runc_ms"
	echo "$runvm_ms" >>runvm.ms
	echo "$runc_ms" >>runc.ms
	run=$((run + 1))
done
median() {
	sort -n "$1" | sed -n "$((($(wc -l <"$1") + 1) / 2))p"
}
printf "%-8s %10s %10s\n" median "$(median runvm.ms)" "$(median runc.ms)"

# avail_kib: MemAvailable of the (test) host, KiB.
avail_kib() {
	sed -n 's/^MemAvailable:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/meminfo
}
# idle_cost RUNTIME ID: what an idle container started with RUNTIME costs
# the host, as the drop in MemAvailable (processes, guest RAM touched,
# page tables, kernel objects), 2 s after its first line.
idle_cost() {
	sync
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
	before=$(avail_kib)
	"$1" --root "$PWD/$2-root" run -d --bundle idle "$2" </dev/null >"$2.out" 2>&1 || fail "$1 run -d failed"
	wait_for started "$2.out" 60
	sleep 2
	after=$(avail_kib)
	"$1" --root "$PWD/$2-root" delete --force "$2" || fail "$1 delete failed"
	echo $((before - after))
}
runvm_kib=$(idle_cost "$RUNVM" vi)
runc_kib=$(idle_cost "$RUNC" ci)
echo "host memory an idle container costs (drop in MemAvailable, KiB; the VM has 256 MiB)"
printf "%-8s %10s %10s\n" "" runvm runc
printf "%-8s %10s %10s\n" idle "$runvm_kib" "$runc_kib"
