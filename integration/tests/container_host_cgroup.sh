# The host cgroup, as kubelet and docker expect it: the monitor, every one
# of its threads (vCPUs included), joins linux.cgroupsPath, so the host
# accounts the VM's memory there; no cgroupsPath means /<id>, and with
# --systemd-cgroup slice:prefix:name means <slice>/<prefix>-<name>.scope;
# delete removes the leaf, also after the monitor was SIGKILLed.
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
root=$PWD/root
cg=/sys/fs/cgroup
[ -e $cg/cgroup.controllers ] || fail "the test host has no cgroup v2 at $cg"
rv() { "$RUNVM" --root "$root" "$@"; }

# A parent with the memory controller delegated, as kubelet's pod cgroups are.
mkdir -p $cg/runvm-e2e || fail "cannot make a cgroup"
echo +memory >$cg/cgroup.subtree_control || fail "cannot enable the memory controller"
echo +memory >$cg/runvm-e2e/cgroup.subtree_control || fail "cannot delegate the memory controller"

make_bundle bundle 'echo started; while true; do sleep 0.1; done' || fail "could not make the bundle"
sed -i 's|"linux": {|"linux": {"cgroupsPath": "/runvm-e2e/c1",|' bundle/config.json
rv create --bundle bundle c1 </dev/null >out 2>err || { cat err; fail "create failed"; }
rv start c1 || fail "start failed"
wait_for started out 60
pid=$(monitor_pid "$root" c1)
grep -qx "$pid" $cg/runvm-e2e/c1/cgroup.procs || fail "the monitor $pid is not in /runvm-e2e/c1"
threads=0
for task in /proc/$pid/task/*; do
	threads=$((threads + 1))
	grep -qx '0::/runvm-e2e/c1' $task/cgroup || fail "thread $task ($(cat $task/comm)) is not in the cgroup"
done
grep -l vcpu0 /proc/$pid/task/*/comm >/dev/null || fail "no vcpu0 thread among the monitor's"
used=$(cat $cg/runvm-e2e/c1/memory.current)
echo "monitor $pid: $threads threads in /runvm-e2e/c1, memory.current $used"
[ "$used" -gt $((16 << 20)) ] || fail "the cgroup should account the guest's memory (> 16 MiB), has $used"
rv delete --force c1 || fail "delete --force failed"
[ -e $cg/runvm-e2e/c1 ] && fail "delete left the cgroup /runvm-e2e/c1"
[ -d $cg/runvm-e2e ] || fail "delete removed the parent it did not make"

make_bundle plain 'echo started; while true; do sleep 0.1; done' || fail "could not make a bundle"
rv create --bundle plain c2 </dev/null >out2 2>err2 || { cat err2; fail "create c2 failed"; }
pid=$(monitor_pid "$root" c2)
grep -qx "$pid" $cg/c2/cgroup.procs || fail "without cgroupsPath the monitor should be in /c2"
kill -KILL "$pid"
tries=100
while alive "$pid" && [ $tries -gt 0 ]; do sleep 0.1; tries=$((tries - 1)); done
rv delete c2 || fail "delete after SIGKILL of the monitor failed"
[ -e $cg/c2 ] && fail "delete after SIGKILL left the cgroup /c2"

make_bundle sd 'echo started; while true; do sleep 0.1; done' || fail "could not make a bundle"
sed -i 's|"linux": {|"linux": {"cgroupsPath": "system.slice:runvm:c3",|' sd/config.json
"$RUNVM" --root "$root" --systemd-cgroup create --bundle sd c3 </dev/null >out3 2>err3 \
	|| { cat err3; fail "create with --systemd-cgroup failed"; }
pid=$(monitor_pid "$root" c3)
grep -qx "$pid" $cg/system.slice/runvm-c3.scope/cgroup.procs \
	|| fail "with --systemd-cgroup the monitor should be in system.slice/runvm-c3.scope"
"$RUNVM" --root "$root" --systemd-cgroup delete --force c3 || fail "delete c3 failed"
[ -e $cg/system.slice/runvm-c3.scope ] && fail "delete left system.slice/runvm-c3.scope"
nothing_under "$root"
