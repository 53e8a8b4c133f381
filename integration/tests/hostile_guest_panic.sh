# A running container panics its guest kernel: root in the guest sets
# vm.panic_on_oom and exhausts the VM's memory, so the kernel panics
# ("Out of memory: ... panic_on_oom") mid-run. With panic=-1 the guest
# resets; the monitor must end cleanly (no Rust panic) and say why in its
# log, not in the container's stderr; `state` says
# stopped, delete leaves nothing, and a container started afterwards on
# the same host runs normally.
# timeout: 240
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
root=$PWD/root

make_bundle bundle 'echo started; echo 2 >/proc/sys/vm/panic_on_oom || exit 3; echo armed; awk "BEGIN { s = \"x\"; while (1) s = s s }"; echo survived' \
	|| fail "could not make the bundle"
ln -s busybox bundle/rootfs/bin/awk
# Root in this container may write /proc/sys (an explicit choice of its
# config, as with a privileged container).
sed -i 's|"readonlyPaths": \["/proc/sys"\]|"readonlyPaths": []|' bundle/config.json
grep -q '"readonlyPaths": \[\]' bundle/config.json || fail "could not make /proc/sys writable"

"$RUNVM" --root "$root" create --bundle bundle p1 >out 2>err </dev/null || { cat err; fail "create failed"; }
pid=$(monitor_pid "$root" p1)
[ -n "$pid" ] || fail "no monitor pid"
"$RUNVM" --root "$root" start p1 || fail "start failed"
wait_for armed out 60
tries=1800
while alive "$pid" && [ $tries -gt 0 ]; do sleep 0.1; tries=$((tries - 1)); done
if alive "$pid"; then
	echo "--- the container's stdout:"; cat out
	echo "--- the guest's console, last lines:"; tail -20 "$root/p1/console.log"
	echo "--- the monitor's log:"; tail -20 "$root/p1/monitor.log"
	fail "the monitor outlived its guest's kernel panic (or the guest never panicked) in 180 s"
fi
echo "--- the container's stdout:"; cat out
echo "--- the container's stderr:"; cat err
grep -q survived out && fail "the memory hog survived: the kernel did not panic"
grep -q "Kernel panic" "$root/p1/console.log" || fail "the guest console shows no kernel panic: $(tail -5 "$root/p1/console.log")"
grep -qi "panicked" err "$root/p1/monitor.log" && fail "the monitor panicked"
grep -q 'level=error msg="the guest reset (it asked to reboot: a kernel panic or a reboot) before the container process exited"' "$root/p1/monitor.log" \
	|| fail "the monitor's log should say that its VM reset, asked by its kernel: $(cat "$root/p1/monitor.log")"
grep -q "runvm" err && fail "runvm wrote into the container's stderr"
"$RUNVM" --root "$root" state p1 | grep -q '"status": "stopped"' || fail "state should say stopped after the guest panicked"
"$RUNVM" --root "$root" delete p1 || fail "delete after the panic failed"
nothing_under "$root"
grep -q "runvm" /proc/mounts && fail "a runvm mount leaked: $(grep runvm /proc/mounts)"

# The host is unaffected: the next container runs.
make_bundle after 'echo still-fine' || fail "could not make the second bundle"
"$RUNVM" --root "$root" run --bundle after a1 >a1.out 2>a1.err </dev/null || { cat a1.err; fail "a container after the panic failed"; }
grep -q still-fine a1.out || fail "the container after the panic printed: $(cat a1.out)"
nothing_under "$root"
