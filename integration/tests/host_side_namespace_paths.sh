# Namespace paths are checked at create, before anything is made, each
# refusal one line naming the field: a path whose namespace is of another
# type than the spec's fails naming both types (runc fails it too); a host
# IPC or UTS namespace, or the runtime's own network namespace, is refused
# with a sentence saying the VM cannot join it; another runvm container's
# IPC or UTS namespace without its network namespace is refused (a pod
# member runs in that container's VM, sharing its network; the pods
# themselves: pod_shared_namespaces). Nothing is left behind by any of
# them.
# timeout: 240
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
root=$PWD/root
rv() { "$RUNVM" --root "$root" "$@"; }

# name_path DIR TYPE PATH: the spec's TYPE namespace is the one at PATH.
name_path() {
	sed -i "s|{\"type\": \"$2\"}|{\"type\": \"$2\", \"path\": \"$3\"}|" "$1/config.json"
	grep -q "\"path\": \"$3\"" "$1/config.json" || fail "could not name the $2 namespace in $1"
}

# refused DIR ID PATTERN: create fails with one line matching PATTERN and
# leaves no container behind.
refused() {
	rv create --bundle "$1" "$2" </dev/null >out 2>err && fail "create of $1 succeeded"
	echo "--- $1: $(cat err)"
	grep -q "$3" err || fail "the refusal of $1 does not say: $3"
	[ "$(wc -l <err)" = 1 ] || fail "the refusal of $1 is not one line"
	[ -e "$root/$2" ] && fail "create of $1 left $root/$2"
	rv state "$2" >/dev/null 2>&1 && fail "create of $1 left a state"
	nothing_under "$root"
}

mkdir -p "$root"
make_bundle netuts 'true' || fail "could not make a bundle"
name_path netuts network /proc/self/ns/uts
refused netuts w1 'linux.namespaces\[1\].path: /proc/self/ns/uts is a namespace of type uts, not network'
make_bundle ipcpid 'true' || fail "could not make a bundle"
name_path ipcpid ipc /proc/1/ns/pid
refused ipcpid w2 'linux.namespaces\[2\].path: /proc/1/ns/pid is a namespace of type pid, not ipc'

# runc refuses the same specs at create and leaves nothing either.
runc_root=$PWD/runc-root
for bundle in netuts ipcpid; do
	"$RUNC" --root "$runc_root" create --bundle $bundle "runc-$bundle" </dev/null >out 2>err \
		&& { "$RUNC" --root "$runc_root" delete --force "runc-$bundle"; fail "runc created $bundle"; }
	echo "--- runc, $bundle: $(tail -1 err)"
	"$RUNC" --root "$runc_root" state "runc-$bundle" >/dev/null 2>&1 && fail "runc left a state for $bundle"
done
nothing_under "$runc_root"

make_bundle hostipc 'true' || fail "could not make a bundle"
name_path hostipc ipc /proc/1/ns/ipc
refused hostipc h1 'linux.namespaces\[2\].path: /proc/1/ns/ipc is a host namespace of type ipc, which the VM cannot join'
make_bundle hostuts 'true' || fail "could not make a bundle"
name_path hostuts uts /proc/1/ns/uts
refused hostuts h2 'linux.namespaces\[3\].path: /proc/1/ns/uts is a host namespace of type uts, which the VM cannot join'
make_bundle hostnet 'true' || fail "could not make a bundle"
name_path hostnet network /proc/1/ns/net
refused hostnet h3 "/proc/1/ns/net is the runtime's own network namespace: a VM cannot share the host's network stack"

# A second container naming the first one's IPC or UTS namespace, not its
# network namespace.
make_bundle first 'echo started; while true; do sleep 0.1; done' || fail "could not make a bundle"
rv create --bundle first p1 </dev/null >p1.out 2>p1.err || { cat p1.err; fail "create p1 failed"; }
pid=$(monitor_pid "$root" p1)
[ -n "$pid" ] || fail "no pid for p1"
for type in ipc uts; do
	make_bundle "pod-$type" 'true' || fail "could not make a bundle"
	name_path "pod-$type" $type /proc/$pid/ns/$type
	rv create --bundle "pod-$type" p2 </dev/null >out 2>err && fail "a container joined p1's $type namespace alone"
	echo "--- pod, $type: $(cat err)"
	grep -q "linux.namespaces: the spec joins namespaces of the runvm container p1 but not its network namespace" err \
		|| fail "joining p1's $type namespace alone is not refused"
	[ -e "$root/p2" ] && fail "the refused pod member left $root/p2"
done
rv delete --force p1 || fail "delete p1 failed"
nothing_under "$root"
