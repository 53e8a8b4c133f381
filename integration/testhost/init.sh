#!/bin/busybox sh
# PID 1 of the nested test host. It runs the test scripts listed in
# /tests/plan, one at a time, between markers on the serial console that the
# runner on the outside parses (integration/src/console.rs), then reboots,
# which with reboot=t and QEMU's -no-reboot ends QEMU.

if [ "$1" != on-tmpfs ]; then
	# Stage 1, on the initramfs: pivot_root(2), which runvm's monitor jail
	# uses, fails with EINVAL while / is the initramfs. Copy everything onto
	# a tmpfs and switch_root there; this script runs again as stage 2.
	/bin/busybox --install -s /bin
	export PATH=/bin
	mkdir -p /newroot
	mount -t tmpfs -o mode=0755 tmpfs /newroot
	for entry in /*; do
		[ "$entry" = /newroot ] || cp -a "$entry" /newroot/
	done
	exec switch_root /newroot /init on-tmpfs
	echo "runvm-testhost: switch_root failed"
	reboot -f
fi

export PATH=/bin
mkdir -p /proc /sys /dev /tmp /run
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
hostname runvm-testhost
ip link set lo up 2>/dev/null

# RUNVM, GUEST_KERNEL, GUEST_INITRAMFS, BUSYBOX and what else the runner set.
. /etc/runvm-test.env

# Some test host boots leave nested guests unable to run at all (every
# guest spins before its first console byte). One plain boot tells such a
# test host from a good one; a bad one reboots, and the runner, seeing the
# run end early, boots a fresh test host.
timeout -s KILL 60 "$RUNVM" boot >/tmp/canary.out 2>&1
if ! grep -q "runvm-init: ready" /tmp/canary.out; then
	echo "runvm-testhost: a plain runvm boot did not come up in 60 s; this test host is unusable"
	tail -5 /tmp/canary.out
	reboot -f
fi
# The test host's own kernel has been seen to break under TCG while nested
# guests run: a stack-guard-page oops in a vCPU thread that leaves its CPU
# stuck (oops=panic cannot end a CPU whose stack is gone), then a
# context-tracking warning, and the running script hangs until its timeout.
# The test host's kernel log (never a nested guest's, whose console goes to
# a file) shows it: reboot at once, and the runner reruns, on a fresh test
# host, the scripts this one did not finish.
watch_own_kernel() {
	# (not `while sleep 2`: a rerun kills the sleep it meets; see
	# remove_leftovers)
	while true; do
		sleep 2
		failure=$(dmesg | grep -m1 -e ': 0000 \[#[0-9]*\]' -e 'WARNING: CPU: [0-9]' -e 'BUG: ')
		[ -n "$failure" ] || continue
		echo "runvm-testhost: its own kernel failed ($failure); rebooting"
		reboot -f
	done
}
watch_own_kernel &

# cgroup v1, for the scripts marked `# cgroup: v1` among their leading
# comments: the hybrid layout of Debian 10 or Ubuntu 20.04 (a tmpfs with one
# v1 hierarchy per controller the kernel has, systemd's named one, and
# cgroup2 without controllers at unified/). They run first, while no
# controller is bound to the cgroup2 hierarchy, which then comes back.
V1_CONTROLLERS="cpuset cpu memory pids freezer devices"
mount_cgroup_v1() {
	umount /sys/fs/cgroup
	mount -t tmpfs -o mode=0755 cgroup /sys/fs/cgroup
	for controller in $V1_CONTROLLERS; do
		mkdir /sys/fs/cgroup/$controller
		mount -t cgroup -o $controller cgroup /sys/fs/cgroup/$controller \
			|| echo "runvm-testhost: cannot mount the cgroup v1 $controller hierarchy"
	done
	mkdir /sys/fs/cgroup/systemd /sys/fs/cgroup/unified
	mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
	mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
}
unmount_cgroup_v1() {
	# A removed memory cgroup lives on while pages or dentries are charged
	# to it (the files its processes wrote, what they read), and so does its
	# hierarchy after the unmount, keeping the controllers from cgroup2:
	# the v1 scripts' files go first, then the caches.
	for name in $v1_scripts; do rm -rf "/tmp/$name" "/tmp/$name.again"; done
	sync
	echo 3 >/proc/sys/vm/drop_caches
	for hierarchy in /sys/fs/cgroup/*; do
		# What a failed script left: a hierarchy with cgroups outlives
		# its mount and keeps its controllers from cgroup2.
		find "$hierarchy" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null
		umount "$hierarchy"
	done
	umount /sys/fs/cgroup
	mount -t cgroup2 cgroup2 /sys/fs/cgroup
	# The hierarchies go asynchronously; /proc/cgroups shows each
	# controller's back on cgroup2 (hierarchy 0). The memory hierarchy
	# has been seen to outlive 10 s (pages still charged to a removed
	# cgroup): the caches are dropped again every 5 s, for up to 60 s.
	tries=600
	while [ -n "$(bound_to_v1)" ] && [ $tries -gt 0 ]; do
		sleep 0.1
		tries=$((tries - 1))
		[ $((tries % 50)) = 0 ] && sync && echo 3 >/proc/sys/vm/drop_caches
	done
	[ -z "$(bound_to_v1)" ] || echo "runvm-testhost: still on cgroup v1: $(bound_to_v1)"
}
bound_to_v1() {
	awk '!/^#/ && $2 != 0 { printf "%s ", $1 }' /proc/cgroups
}
cgroup_of() {
	sed -n '/^[^#]/q; s/^# cgroup: *//p' "/tests/$1.sh"
}

# A nested guest here triple-faults now and then (about one boot in 50
# with 20 at once; README, status: nested test host): its kernel jumps into
# padding or faults in free_reserved_area, at times before the VMM has
# written any guest memory, after a storm of instruction-fetch page faults
# that this test host's KVM injected because its walk of the guest's page
# tables disagrees with what the emulated CPU runs. KVM traces each
# shutdown exit (SVM_EXIT_SHUTDOWN, 127: where, delivering what); a
# script that failed with one in the trace runs once more, and says so.
# A second failure stands.
TRACE=/sys/kernel/tracing
if mount -t tracefs nodev $TRACE 2>/dev/null; then
	echo 'exit_reason == 127' >$TRACE/events/kvm/kvm_exit/filter &&
		echo 1 >$TRACE/events/kvm/kvm_exit/enable ||
		echo "runvm-testhost: cannot trace KVM's shutdown exits"
fi
# What the runner looks for in a script's output (testhost.rs, RERUN_NOTE).
RERUN_NOTE="runvm-testhost: running it once more, from a fresh directory"
# iproute2, which the network tests bring (busybox's ip has no netns).
IPROUTE=/usr/bin/ip
# pids, links: the processes, the links of the test host's own network
# namespace, one per line.
pids() {
	ls /proc | grep -E '^[0-9]+$'
}
links() {
	$IPROUTE -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'
}
# snapshot: the processes, network namespaces and links there are now,
# for remove_leftovers.
snapshot() {
	pids >/tmp/pids.before
	ls /run/netns >/tmp/netns.before 2>/dev/null
	[ -x $IPROUTE ] && links >/tmp/links.before
}
# remove_leftovers: what a failed script left since the snapshot, gone
# before its rerun: its processes (monitors, servers) are killed, and the
# network namespaces and links it made are deleted, so that the rerun
# finds the names it uses free.
remove_leftovers() {
	for pid in $(pids); do
		[ "$pid" = $$ ] || grep -qx "$pid" /tmp/pids.before || kill -9 "$pid" 2>/dev/null
	done
	sleep 1
	[ -x $IPROUTE ] || return 0
	for ns in $(ls /run/netns 2>/dev/null); do
		grep -qx "$ns" /tmp/netns.before || $IPROUTE netns delete "$ns"
	done
	for link in $(links); do
		grep -qx "$link" /tmp/links.before || $IPROUTE link delete "$link" 2>/dev/null
	done
}
# run_script DIR NAME TIMEOUT ARGS...: runs the script from DIR, a fresh
# working directory, stdin closed so it cannot eat the plan; its exit
# status goes to $status.
run_script() {
	dir=$1 name=$2 timeout_secs=$3
	shift 3
	mkdir -p "$dir" && cd "$dir" || exit 1
	echo >$TRACE/trace 2>/dev/null
	# args: plain words (a client case's runtime), split on purpose.
	timeout -s KILL "$timeout_secs" sh "/tests/$name.sh" "$@" </dev/null 2>&1
	status=$?
	[ "$status" = 137 ] && echo "runvm-testhost: $name was killed (its timeout is ${timeout_secs}s)"
	cd /
}
# run_plan CGROUP: runs the scripts of /tests/plan that want CGROUP
# (v1, or nothing for cgroup2).
run_plan() {
	while read -r name timeout_secs args; do
		[ "$(cgroup_of "$name")" = "$1" ] || continue
		echo "@@RUNVM-TEST-BEGIN $name"
		snapshot
		run_script "/tmp/$name" "$name" "$timeout_secs" $args
		shutdowns=$(grep "reason shutdown" $TRACE/trace 2>/dev/null)
		if [ "$status" != 0 ] && [ -n "$shutdowns" ]; then
			echo "runvm-testhost: a nested guest triple-faulted during $name; KVM's shutdown exits:"
			echo "$shutdowns"
			echo "$RERUN_NOTE"
			remove_leftovers
			export RUNVM_TEST_RERUN=1
			run_script "/tmp/$name.again" "$name" "$timeout_secs" $args
			unset RUNVM_TEST_RERUN
		fi
		echo "@@RUNVM-TEST-END $name $status"
	done </tests/plan
}

echo "@@RUNVM-HOST-UP"
v1_scripts=$(while read -r name _; do [ "$(cgroup_of "$name")" = v1 ] && echo "$name"; done </tests/plan)
if [ -n "$v1_scripts" ]; then
	mount_cgroup_v1
	run_plan v1
	unmount_cgroup_v1
fi
run_plan ""
echo "@@RUNVM-DONE"
reboot -f
