# Every thread of a running container's monitor runs under a seccomp
# filter (`Seccomp: 2` in /proc/<pid>/task/<tid>/status) and keeps only
# the capabilities its job needs (CapPrm): the vCPUs, the
# device event loop (vmm-events), the stdio relays and signal forwarder,
# the control thread, the thread waiting for the VM (vm) and the main
# thread. The container then does virtio-fs and vsock work under the
# filters (files as root and as another user, stdio, exec, ps, events,
# pause/resume, a signal) and ends normally (a denied system call would
# have killed the monitor, and the VM with it, first, and the monitor's
# log would name the call).
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
root=$PWD/root
rv() { "$RUNVM" --root "$root" "$@"; }
make_bundle bundle 'trap "echo got-term; exit 0" TERM; echo data >/tmp/f; mkdir -p /tmp/d/e; ln -s f /tmp/l; mv /tmp/f /tmp/g; cat /tmp/g; ls /tmp; echo started; while true; do sleep 0.1; done' \
	|| fail "could not make the bundle"
chmod 1777 bundle/rootfs/tmp || fail "could not open up the rootfs's /tmp"

rv create --bundle bundle --pid-file pid c1 >out 2>err </dev/null
status=$?
echo "--- create exit $status; stderr:"; cat err
[ "$status" = 0 ] || fail "create failed"
pid=$(cat pid)
rv start c1 || fail "start failed"
wait_for started out 60
grep -q '^data$' out || fail "the container could not write and read a file on virtio-fs"

# A file made by another user: virtio-fs switches its effective ids.
rv exec -u 1000:1000 c1 sh -c 'mkdir /tmp/u && echo mine >/tmp/u/owned-by-1000 && cat /tmp/u/owned-by-1000' >exec.out 2>exec.err </dev/null
status=$?
echo "--- exec as 1000 exit $status:"; cat exec.out exec.err
[ "$status" = 0 ] || fail "exec as uid 1000 failed"
owner=$(stat -c %u:%g bundle/rootfs/tmp/u/owned-by-1000)
echo "owner of the file on the host: $owner"
[ "$owner" = 1000:1000 ] || fail "the file should belong to 1000:1000 on the host, not $owner"

echo "--- threads of the monitor $pid:"
filtered=0 vcpus=0 events=0 relays=0 supervisors=0
for task in /proc/"$pid"/task/*; do
	comm=$(cat "$task/comm")
	mode=$(grep '^Seccomp:' "$task/status" | tr -d '\t' | cut -d: -f2 | tr -d ' ')
	caps=$(grep '^CapPrm:' "$task/status" | tr -d '\t' | cut -d: -f2 | tr -d ' ')
	echo "$(basename "$task") $comm Seccomp: $mode CapPrm: $caps"
	# Capabilities are per thread: the file server keeps what acting for
	# the guest's users needs (chown, dac_override, dac_read_search,
	# fowner, fsetid, setgid, setuid, mknod, sys_admin for security.*
	# xattrs, setfcap), the rest none.
	case $comm in
	vmm-events) want=00000000882000df ;;
	*) want=0000000000000000 ;;
	esac
	[ "$caps" = "$want" ] || fail "thread $comm should keep capabilities $want, keeps $caps"
	case $comm in
	vcpu*) vcpus=$((vcpus + 1)) ;;
	vmm-events) events=$((events + 1)) ;;
	stdout | stderr | stdin | pty-in | pty-out | signals) relays=$((relays + 1)) ;;
	control | vm) supervisors=$((supervisors + 1)) ;;
	esac
	[ "${task##*/}" = "$pid" ] && supervisors=$((supervisors + 1))
	[ "$mode" = 2 ] || fail "thread $comm should run under a seccomp filter (Seccomp: 2), has $mode"
	filtered=$((filtered + 1))
done
[ "$vcpus" -ge 1 ] || fail "no vcpu thread found"
[ "$events" = 1 ] || fail "expected one vmm-events thread, found $events"
[ "$relays" -ge 2 ] || fail "expected the stdio relays and the signal forwarder, found $relays"
[ "$supervisors" = 3 ] || fail "expected the main, vm and control threads, found $supervisors"
echo "$filtered filtered threads: $vcpus vCPU, $events event loop, $relays relay/signal, $supervisors main/vm/control"

# What the control thread serves, under its filter.
rv ps --format json c1 >ps.out 2>ps.err || { cat ps.err "$root/c1/monitor.log"; fail "ps failed"; }
grep -q '^\[[0-9][0-9]*[],]' ps.out || fail "ps listed no pid: $(cat ps.out)"
rv events --stats c1 >events.out 2>events.err || { cat events.err "$root/c1/monitor.log"; fail "events --stats failed"; }
grep -q '"memory"' events.out || fail "events --stats printed no memory stats: $(cat events.out)"
rv pause c1 || { cat "$root/c1/monitor.log"; fail "pause failed"; }
rv resume c1 || { cat "$root/c1/monitor.log"; fail "resume failed"; }

rv kill c1 TERM || fail "kill failed"
tries=100
while rv state c1 | grep -q '"status": "running"' && [ $tries -gt 0 ]; do
	sleep 0.1; tries=$((tries - 1))
done
rv state c1 | grep -q '"status": "stopped"' || fail "state should be stopped after kill TERM"
grep -q got-term out || fail "the container's TERM trap did not run"
echo "--- create's (and the container's) stderr and the monitor's log at the end:"; cat err "$root/c1/monitor.log"
grep -q "seccomp denied" err "$root/c1/monitor.log" && fail "a filter denied a system call"
rv delete c1 || fail "delete failed"
nothing_under "$root"
