# A hostile guest ($HOSTILE_KERNEL, integration/hostile-guest/garbage.S):
# it writes garbage to every virtio-mmio register of the vsock and
# virtio-fs devices, activates them with random queues in random RAM,
# notifies them over and over, then triple-faults. runvm must end cleanly
# (no panic, a clear message, a non-zero exit), and a container created on
# it must fail cleanly and leave nothing: no directory, process, mount or
# host cgroup. Then root in a running container calls reboot(2): as under
# runc, that ends the container's PID namespace (its PID 1 is killed), not
# the machine: the monitor ends, state says stopped, delete leaves
# nothing. (A guest kernel that resets under a running container is
# hostile_guest_panic's.)
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
root=$PWD/root

start=$(cut -d' ' -f1 /proc/uptime)
"$RUNVM" boot --kernel "$HOSTILE_KERNEL" --agent-timeout 100 -- true >boot.out 2>boot.err </dev/null
status=$?
end=$(cut -d' ' -f1 /proc/uptime)
echo "--- boot: exit $status after $start..$end s of uptime; stderr:"; cat boot.err
grep -qi "panick" boot.err && fail "runvm panicked"
[ "$status" = 0 ] && fail "a guest that triple-faulted cannot have succeeded"
grep -q "the guest reset (triple fault)" boot.err || fail "runvm should say the guest reset with a triple fault"

make_bundle bundle 'true' || fail "could not make the bundle"
annotate bundle io.runvm.kernel "$HOSTILE_KERNEL" || fail "could not set the kernel annotation"
"$RUNVM" --root "$root" create --bundle bundle evil >out 2>err </dev/null
status=$?
echo "--- create: exit $status; stderr:"; cat err
grep -qi "panick" err && fail "runvm panicked"
[ "$status" = 1 ] || fail "create on a hostile guest should exit 1"
[ "$(wc -l <err)" = 1 ] || fail "create should say what failed in one line"
nothing_under "$root"
[ -e /sys/fs/cgroup/evil ] && fail "the failed create left its host cgroup"
grep -q "runvm" /proc/mounts && fail "a runvm mount leaked: $(grep runvm /proc/mounts)"
for p in /proc/[0-9]*; do
	case "$(cat $p/cmdline 2>/dev/null | tr '\0' ' ')" in
	*"$RUNVM"*monitor*) fail "a monitor is left: $p";;
	esac
done

make_bundle resetting 'echo started; sleep 1; reboot -f; sleep 30' || fail "could not make the bundle"
ln -s busybox resetting/rootfs/bin/reboot
"$RUNVM" --root "$root" create --bundle resetting r1 >r1.out 2>r1.err </dev/null || { cat r1.err; fail "create failed"; }
pid=$(monitor_pid "$root" r1)
"$RUNVM" --root "$root" start r1 || fail "start failed"
wait_for started r1.out 60
tries=300
while alive "$pid" && [ $tries -gt 0 ]; do sleep 0.1; tries=$((tries - 1)); done
alive "$pid" && fail "the monitor outlived the container's reboot(2)"
echo "--- the container's stderr:"; cat r1.err
grep -q "the guest reset" r1.err && fail "reboot(2) in the container's PID namespace reset the whole VM"
"$RUNVM" --root "$root" state r1 | grep -q '"status": "stopped"' || fail "state should say stopped after the VM reset"
"$RUNVM" --root "$root" delete r1 || fail "delete after the reset failed"
nothing_under "$root"
[ -e /sys/fs/cgroup/r1 ] && fail "delete left the host cgroup of r1"
true
