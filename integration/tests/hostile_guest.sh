# A hostile guest ($HOSTILE_KERNEL, integration/hostile-guest/garbage.S):
# it writes garbage to every virtio-mmio register of the vsock and
# virtio-fs devices, activates them with random queues in random RAM,
# notifies them over and over, then triple-faults. runvm must end cleanly
# (no panic, a clear message, a non-zero exit), and a container created on
# it must fail cleanly and leave nothing: no directory, process, mount or
# host cgroup.
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
grep -q "the guest reset" boot.err || fail "runvm should say the guest reset"

make_bundle bundle 'true' || fail "could not make the bundle"
sed -i "s|\"ociVersion\": \"1.2.0\",|\"ociVersion\": \"1.2.0\", \"annotations\": {\"io.runvm.kernel\": \"$HOSTILE_KERNEL\"},|" \
	bundle/config.json
grep -q io.runvm.kernel bundle/config.json || fail "could not set the kernel annotation"
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
true
