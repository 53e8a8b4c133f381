# cgroup: v1
# On a cgroup v1 (hybrid) host, as Debian 10 or Ubuntu 20.04 set one up:
# create with a cgroupsPath puts the container's pid in that cgroup in
# every hierarchy (a new cpuset gets its parent's CPUs and memory nodes),
# the spec's CPU pinning is in the v1 cpuset file and in the pid's allowed
# CPUs, memory is accounted there, and delete removes every cgroup
# directory runvm made; without a cgroupsPath the container's cgroups
# (/<id>) go at delete too, also after its pid was SIGKILLed. runc passes
# the same checks of the leaf (it keeps the parents it made).
# timeout: 300
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
cg=/sys/fs/cgroup
[ -e $cg/cpuset/cpuset.cpus ] || fail "the test host has no cgroup v1 cpuset at $cg/cpuset"
[ -e $cg/unified/cgroup.controllers ] || fail "the test host has no cgroup2 at $cg/unified"
HIERARCHIES="cpuset cpu memory pids freezer devices systemd unified"
for h in $HIERARCHIES; do [ -d $cg/$h ] || fail "no $cg/$h"; done
echo "cpuset of the root: cpus $(cat $cg/cpuset/cpuset.cpus), mems $(cat $cg/cpuset/cpuset.mems)"
all_cgroups() { find $cg -mindepth 2 -type d | sort; }
all_cgroups >before

# pinned DIR: a bundle with the cgroupsPath /runvm-e2e/pod1/<DIR> pinned to CPU 1.
pinned() {
	make_bundle "$1" 'echo started; while true; do sleep 0.1; done' || fail "could not make a bundle"
	sed -i "s|\"linux\": {|\"linux\": {\"cgroupsPath\": \"/runvm-e2e/pod1/$1\", \"resources\": {\"cpu\": {\"cpus\": \"1\", \"mems\": \"0\"}},|" "$1/config.json"
}

# check_leaf NAME RUNTIME: create and start with RUNTIME; the pid is in the
# leaf of every hierarchy, pinned to CPU 1; delete removes the leaf.
check_leaf() {
	name=$1 runtime=$2 root=$PWD/root-$1 leaf=runvm-e2e/pod1/$1
	rt() { "$runtime" --root "$root" "$@"; }
	pinned "$name"
	rt create --bundle "$name" c1 </dev/null >"$name.out" 2>"$name.err" || { cat "$name.err"; fail "$name: create with a cgroupsPath failed"; }
	rt start c1 || fail "$name: start failed"
	wait_for started "$name.out" 60
	pid=$(rt state c1 | sed -n 's/.*"pid": \([0-9]*\),.*/\1/p')
	for h in $HIERARCHIES; do
		grep -qx "$pid" $cg/$h/$leaf/cgroup.procs || fail "$name: pid $pid is not in $cg/$h/$leaf"
	done
	echo "$name: pid $pid in /$leaf of: $HIERARCHIES"
	cpus=$(cat $cg/cpuset/$leaf/cpuset.cpus) mems=$(cat $cg/cpuset/$leaf/cpuset.mems)
	allowed=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/$pid/status)
	used=$(cat $cg/memory/$leaf/memory.usage_in_bytes)
	echo "$name: cpuset.cpus $cpus, cpuset.mems $mems, Cpus_allowed_list $allowed, memory.usage_in_bytes $used"
	[ "$cpus" = 1 ] && [ "$mems" = 0 ] || fail "$name: the leaf's cpuset is not the spec's cpus 1, mems 0"
	[ "$allowed" = 1 ] || fail "$name: pid $pid may run on CPUs $allowed, not only 1"
	echo "$name: the parent's cpuset: cpus $(cat $cg/cpuset/runvm-e2e/pod1/cpuset.cpus), mems $(cat $cg/cpuset/runvm-e2e/pod1/cpuset.mems)"
	rt delete --force c1 || fail "$name: delete failed"
	for h in $HIERARCHIES; do
		[ -e $cg/$h/$leaf ] && fail "$name: delete left $cg/$h/$leaf"
	done
	nothing_under "$root"
}

check_leaf runc "$RUNC"
# runc keeps the parents it made: out of the way before runvm's turn.
for h in $HIERARCHIES; do rmdir $cg/$h/runvm-e2e/pod1 $cg/$h/runvm-e2e 2>/dev/null; done
all_cgroups >after-runc
diff before after-runc || fail "cgroups changed after runc (the test's own cleanup)"

check_leaf runvm "$RUNVM"
all_cgroups >after
diff before after || fail "runvm left cgroups it made"

# No cgroupsPath: /<id> in every hierarchy, gone at delete, also after a
# SIGKILL of the monitor.
root=$PWD/root-plain
make_bundle plain 'echo started; while true; do sleep 0.1; done' || fail "could not make a bundle"
"$RUNVM" --root "$root" create --bundle plain c2 </dev/null >out2 2>err2 || { cat err2; fail "create without a cgroupsPath failed"; }
pid=$(monitor_pid "$root" c2)
for h in $HIERARCHIES; do
	grep -qx "$pid" $cg/$h/c2/cgroup.procs || fail "without a cgroupsPath, the monitor $pid is not in $cg/$h/c2"
done
used=$(cat $cg/memory/c2/memory.usage_in_bytes)
echo "plain: monitor $pid in /c2, memory.usage_in_bytes $used"
[ "$used" -gt $((16 << 20)) ] || fail "the v1 memory cgroup should account the guest's memory (> 16 MiB), has $used"
kill -KILL "$pid"
tries=100
while alive "$pid" && [ $tries -gt 0 ]; do sleep 0.1; tries=$((tries - 1)); done
"$RUNVM" --root "$root" delete c2 || fail "delete after SIGKILL of the monitor failed"
all_cgroups >after-plain
diff before after-plain || fail "a container without a cgroupsPath left cgroups"
nothing_under "$root"
