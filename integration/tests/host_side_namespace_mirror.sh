# The host side mirrors what a host can have: with a new UTS, IPC and
# cgroup namespace in the spec, the container's pid in the state (runvm's
# monitor, runc's init) is in namespaces of its own, `nsenter -t PID -u
# hostname` shows the spec's hostname, and the host's hostname is
# untouched; without them in the spec it shares the host's. Prestart hooks
# run in the runtime's namespaces, not the container's. Checked with runvm,
# then the same checks with runc.
# timeout: 240
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
host_name=$(hostname)
ns() { readlink "/proc/$1/ns/$2"; }

# check NAME RUNTIME: the checks above with RUNTIME.
check() {
	name=$1 runtime=$2 root=$PWD/root-$1
	rt() { "$runtime" --root "$root" "$@"; }
	make_bundle "$name" 'echo started; while true; do sleep 0.1; done' || fail "could not make a bundle"
	sed -i -e 's|{"type": "mount"}|{"type": "mount"}, {"type": "cgroup"}|' \
		-e 's|"hostname": "runvm-test"|"hostname": "mirrored"|' \
		-e "s|\"linux\": {|\"hooks\": {\"prestart\": [{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"echo \$(hostname) \$(readlink /proc/self/ns/uts) \$(readlink /proc/self/ns/ipc) >$PWD/$name.hook\"]}]}, \"linux\": {|" \
		"$name/config.json"
	grep -q '"type": "cgroup"' "$name/config.json" || fail "could not ask for a cgroup namespace"
	rt create --bundle "$name" c1 </dev/null >"$name.out" 2>"$name.err" || { cat "$name.err"; fail "$name: create failed"; }
	rt start c1 || fail "$name: start failed"
	wait_for started "$name.out" 60
	pid=$(rt state c1 | sed -n 's/.*"pid": \([0-9]*\),.*/\1/p')
	[ -n "$pid" ] || fail "$name: no pid in the state"
	seen=$(busybox nsenter -t "$pid" -u busybox hostname)
	echo "$name: pid $pid; nsenter -t $pid -u hostname: $seen"
	[ "$seen" = mirrored ] || fail "$name: nsenter -t $pid -u hostname says $seen, not the spec's mirrored"
	for type in uts ipc cgroup net; do
		echo "$name: $type: $(ns "$pid" $type) (the test host's: $(ns self $type))"
		[ "$(ns "$pid" $type)" != "$(ns self $type)" ] || fail "$name: pid $pid is in the test host's $type namespace"
	done
	[ "$(hostname)" = "$host_name" ] || fail "$name: the test host's hostname changed to $(hostname)"
	echo "$name: the prestart hook saw: $(cat "$PWD/$name.hook")"
	[ "$(cat "$PWD/$name.hook")" = "$host_name $(ns self uts) $(ns self ipc)" ] \
		|| fail "$name: the prestart hook did not run in the runtime's UTS and IPC namespaces"
	rt delete --force c1 || fail "$name: delete failed"

	# No UTS, IPC or cgroup namespace in the spec: the host's.
	make_bundle "$name-shared" 'echo started; while true; do sleep 0.1; done' || fail "could not make a bundle"
	sed -i -e 's|, {"type": "ipc"}, {"type": "uts"}||' -e '/"hostname":/d' "$name-shared/config.json"
	grep -q '"type": "uts"' "$name-shared/config.json" && fail "could not drop the UTS namespace"
	rt create --bundle "$name-shared" c2 </dev/null >"$name.out2" 2>"$name.err2" || { cat "$name.err2"; fail "$name: create without namespaces failed"; }
	pid=$(rt state c2 | sed -n 's/.*"pid": \([0-9]*\),.*/\1/p')
	for type in uts ipc cgroup; do
		[ "$(ns "$pid" $type)" = "$(ns self $type)" ] || fail "$name: without a $type namespace in the spec, pid $pid has one of its own"
	done
	rt delete --force c2 || fail "$name: delete c2 failed"
	nothing_under "$root"
}

check runvm "$RUNVM"
check runc "$RUNC"
