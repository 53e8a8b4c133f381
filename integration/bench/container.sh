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
# start_idle RUNTIME ROOT ID: starts an idle container with RUNTIME and prints
# what it costs the host, as the drop in MemAvailable (processes, guest
# RAM touched, page tables, kernel objects, runvm's sealed binary copy)
# 2 s after its first line. The container keeps running.
start_idle() {
	sync
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
	before=$(avail_kib)
	"$1" --root "$2" run -d --bundle idle "$3" </dev/null >"$3.out" 2>&1 || fail "$1 run -d failed"
	wait_for started "$3.out" 60
	sleep 2
	after=$(avail_kib)
	echo $((before - after))
}
# The first container of a runtime, then a second beside it: runvm's
# first monitor makes the sealed copy of the binary (kernel and
# initramfs included), later ones under the same --root share it.
runvm_first=$(start_idle "$RUNVM" "$PWD/runvm-idle" vi1)
runvm_second=$(start_idle "$RUNVM" "$PWD/runvm-idle" vi2)
"$RUNVM" --root "$PWD/runvm-idle" delete --force vi1 && "$RUNVM" --root "$PWD/runvm-idle" delete --force vi2 \
	|| fail "runvm delete failed"
runc_first=$(start_idle "$RUNC" "$PWD/runc-idle" ci1)
runc_second=$(start_idle "$RUNC" "$PWD/runc-idle" ci2)
"$RUNC" --root "$PWD/runc-idle" delete --force ci1 && "$RUNC" --root "$PWD/runc-idle" delete --force ci2 \
	|| fail "runc delete failed"
echo "host memory an idle container costs (drop in MemAvailable, KiB; the VM has 256 MiB)"
printf "%-8s %10s %10s\n" "" runvm runc
printf "%-8s %10s %10s\n" first "$runvm_first" "$runc_first"
printf "%-8s %10s %10s\n" second "$runvm_second" "$runc_second"
