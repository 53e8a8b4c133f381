# A container, runvm against runc, same bundle (busybox rootfs), same
# machine: the time `run` takes from process start to the container's
# first line of output (runvm boots a VM; runc makes namespaces), and the
# host memory an idle container holds (runvm: the monitor's RSS, guest RAM
# it touched included; runc: the container process's RSS; neither counts
# a shim). Needs RUNC and BOOT_TIMER besides the usual variables. Inside
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

# rss_kib PID: the resident set of PID in KiB.
rss_kib() {
	sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"
}
"$RUNVM" --root "$PWD/runvm-root" run -d --bundle idle vi </dev/null >vi.out 2>&1 || fail "runvm run -d failed"
"$RUNC" --root "$PWD/runc-root" run -d --bundle idle ci </dev/null >ci.out 2>&1 || fail "runc run -d failed"
wait_for started vi.out 60
wait_for started ci.out 60
sleep 2
state_pid() {
	"$1" --root "$2" state "$3" | sed -n 's/.*"pid": \([0-9]*\),.*/\1/p'
}
runvm_kib=$(rss_kib "$(state_pid "$RUNVM" "$PWD/runvm-root" vi)")
runc_kib=$(rss_kib "$(state_pid "$RUNC" "$PWD/runc-root" ci)")
echo "host memory of an idle container (RSS, KiB; the VM has 256 MiB)"
printf "%-8s %10s %10s\n" "" runvm runc
printf "%-8s %10s %10s\n" idle "$runvm_kib" "$runc_kib"
"$RUNVM" --root "$PWD/runvm-root" delete --force vi
"$RUNC" --root "$PWD/runc-root" delete --force ci
