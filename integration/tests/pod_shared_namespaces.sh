# A pod by hand: container a has a CNI network namespace; container b's
# spec joins a's network, IPC and UTS namespaces by /proc/<a's pid>/ns/*,
# as Kubernetes and podman name the pause container's. b runs in a's VM:
# it reaches a's server on 127.0.0.1, has a's hostname, sees the System V
# shared memory segment a made, and the same guest kernel (boot id,
# release); its pid is a host process of its own (in a's network, IPC and
# UTS namespaces, without KVM), `exec` runs in it, and `ps` of each lists
# its own processes only. Killing and
# deleting b leaves a running and nothing of b's behind; a member that
# exits gives `run` its status. Joining a's namespaces under another
# --root, or a's IPC namespace without its network, is refused. Deleting a
# at the end leaves nothing.
# timeout: 420
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
. "$TEST_LIB/net.sh"
ns() { readlink "/proc/$1/ns/$2"; }

# join DIR TYPE PATH: the spec's TYPE namespace is the one at PATH.
join() {
	sed -i "s|{\"type\": \"$2\"}|{\"type\": \"$2\", \"path\": \"$3\"}|" "$1/config.json"
	grep -q "\"path\": \"$3\"" "$1/config.json" || fail "could not name the $2 namespace in $1"
}

# member DIR COMMAND: a bundle joining a's network, IPC and UTS namespaces
# (no hostname of its own: runc would set it in a's UTS namespace).
member() {
	make_bundle "$1" "$2" || fail "could not make the bundle $1"
	add_net_applets "$1/rootfs"
	add_vmctl "$1/rootfs" || fail "could not add vmctl to $1"
	sed -i '/"hostname":/d' "$1/config.json"
	join "$1" network "/proc/$pid_a/ns/net"
	join "$1" ipc "/proc/$pid_a/ns/ipc"
	join "$1" uts "/proc/$pid_a/ns/uts"
}

cni_bridge_config net.json 10.88.14.0/24
cni_netns pod1 net.json
make_bundle first 'mkdir -p /www && echo "hello from the first" >/www/a.txt && httpd -p 127.0.0.1:8080 -h /www && vmctl shm-write 4242 made-in-the-first && echo "boot $(cat /proc/sys/kernel/random/boot_id) $(uname -r)" && echo ready; while true; do sleep 1; done' \
	|| fail "could not make the bundle"
add_net_applets first/rootfs
add_vmctl first/rootfs || fail "could not add vmctl"
sed -i 's|"hostname": "runvm-test"|"hostname": "pod-first"|' first/config.json
join_netns first /run/netns/pod1
start_container first a
pid_a=$(monitor_pid "$root" a)
[ -n "$pid_a" ] || fail "no pid for a"
boot_a=$(grep '^boot ' a.out)
echo "--- a: pid $pid_a, $boot_a"

member second 'echo "fetched: $(wget -q -O - http://127.0.0.1:8080/a.txt)"; echo "hostname: $(hostname)"; echo "shm: $(vmctl shm-read 4242)"; echo "sysvipc: $(grep -c " 4242 " /proc/sysvipc/shm)"; echo "boot $(cat /proc/sys/kernel/random/boot_id) $(uname -r)"; echo done; while true; do sleep 1; done'
rv create --bundle second b </dev/null >b.out 2>b.err || { cat b.err; fail "create of the member b failed"; }
rv state b | grep '"status": "created"' >/dev/null || fail "b is not created: $(rv state b)"
rv start b || fail "start of b failed"
wait_for '^done$' b.out 90
echo "--- b:"; cat b.out b.err
grep -q '^fetched: hello from the first$' b.out || fail "b did not reach a's server on 127.0.0.1"
grep -q '^hostname: pod-first$' b.out || fail "b does not have a's hostname"
grep -q '^shm: made-in-the-first$' b.out || fail "b does not see a's shared memory segment"
grep -q '^sysvipc: 1$' b.out || fail "b's /proc/sysvipc/shm does not list a's segment"
[ "$(grep '^boot ' b.out)" = "$boot_a" ] || fail "b runs in another guest: $(grep '^boot ' b.out), not $boot_a"

pid_b=$(monitor_pid "$root" b)
echo "--- b: pid $pid_b; state: $(rv state b | tr -d '\n ')"
[ -n "$pid_b" ] && [ "$pid_b" != "$pid_a" ] || fail "b has no pid of its own: $pid_b"
alive "$pid_b" || fail "b's pid $pid_b is not a live process"
rv state b | grep '"status": "running"' >/dev/null || fail "b is not running"
for type in net ipc uts; do
	[ "$(ns "$pid_b" $type)" = "$(ns "$pid_a" $type)" ] || fail "b's pid is not in a's $type namespace"
done
ls -l "/proc/$pid_b/fd" | grep -q kvm && fail "b's host process holds KVM: a second VM"
hostname_b=$(rv exec b hostname) || fail "exec in b failed"
[ "$hostname_b" = pod-first ] || fail "exec in b says hostname $hostname_b"
rv exec b sh -c 'test -e /bin/vmctl && echo "pid1: $(cat /proc/1/cmdline | tr "\0" " ")"' >exec.out 2>&1 || { cat exec.out; fail "exec in b failed"; }
echo "--- exec in b: $(cat exec.out)"
grep -q 'echo "fetched' exec.out || fail "exec in b does not run in b's PID namespace"
rv ps a >ps_a && rv ps b >ps_b || fail "ps failed"
echo "--- ps a:"; cat ps_a; echo "--- ps b:"; cat ps_b
ps_json=$(rv ps --format json b)
[ "$ps_json" = "[$pid_b]" ] || fail "ps --format json of b says $ps_json, not [$pid_b]"
grep -q "^$pid_b[[:space:]]" ps_b || fail "ps of b does not list b's process under b's pid"
grep -q "^$pid_b[[:space:]]" ps_a && fail "ps of a lists b's process"
grep -q "^$pid_a[[:space:]]" ps_a || fail "ps of a does not list a's process"

rv kill b KILL || fail "kill of b failed"
wait_stopped "$root" b 30
rv delete b || fail "delete of b failed"
[ -e "$root/b" ] && fail "delete of b left $root/b"
[ -e "$root/a/share/members/b" ] && fail "delete of b left its share in a's: $(ls -R "$root/a/share/members/b")"
grep members "/proc/$pid_a/mountinfo" && fail "delete of b left mounts in a's monitor"
rv state a | grep '"status": "running"' >/dev/null || fail "a is not running after b went: $(rv state a)"
fetched=$(rv exec a wget -q -O - http://127.0.0.1:8080/a.txt) || fail "exec in a failed after b went"
[ "$fetched" = "hello from the first" ] || fail "a's server is gone after b went: $fetched"

# A member that exits: `run` gives its status; its output is its own.
member third 'echo "third on $(hostname)"; exit 7'
rv run --bundle third c </dev/null >c.out 2>c.err
status=$?
echo "--- c: exit $status: $(cat c.out c.err)"
[ "$status" = 7 ] || fail "run of the member c exited $status, not 7"
grep -q '^third on pod-first$' c.out || fail "c did not run in a's UTS namespace"
[ -e "$root/c" ] && fail "run of c left $root/c"
[ -e "$root/a/share/members/c" ] && fail "run of c left its share in a's"

# Refused: a's namespaces from another --root; a's IPC without its network.
"$RUNVM" --root "$PWD/other-root" create --bundle second x </dev/null >out 2>err && fail "a member under another --root was created"
echo "--- another root: $(cat err)"
grep -q "is the network namespace of a runvm container under another --root" err || fail "another --root is not refused as such"
make_bundle ipconly 'true' || fail "could not make a bundle"
join ipconly ipc "/proc/$pid_a/ns/ipc"
rv create --bundle ipconly y </dev/null >out 2>err && fail "a member without a's network was created"
echo "--- IPC only: $(cat err)"
grep -q "joins namespaces of the runvm container a but not its network namespace" err || fail "IPC without the network is not refused as such"
[ -e "$root/y" ] && fail "the refused member left $root/y"

end_container a /run/netns/pod1
alive "$pid_b" && fail "b's host process $pid_b outlived everything"
grep -q "$root" /proc/self/mountinfo && fail "mounts left under $root: $(grep "$root" /proc/self/mountinfo)"
cni_netns_delete pod1 net.json
bridge_delete
