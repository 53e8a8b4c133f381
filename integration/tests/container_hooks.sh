# OCI hooks: prestart and createRuntime on the host before `create`
# returns, createContainer in the guest before it too, startContainer in
# the guest at `start` before the process, poststart on the host after it,
# poststop at `delete`; each gets the state JSON (with the monitor's pid) on
# stdin. A failing or timed-out hook fails `create` and leaves nothing.
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
root=$PWD/root
W=$PWD
rv() { "$RUNVM" --root "$root" "$@"; }

# host_hook NAME: a hook on the host saving its stdin as NAME.json and
# appending NAME to $W/order.
host_hook() {
	echo "{\"path\": \"$BUSYBOX\", \"args\": [\"sh\", \"-c\", \"cat >$W/$1.json; echo $1 >>$W/order\"]}"
}
# guest_hook NAME: the same in the container's root, via its own /bin/sh.
guest_hook() {
	echo "{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"cat >/$1.json; echo $1 >>/order\"]}"
}
# add_hooks BUNDLE HOOKS_JSON: puts HOOKS_JSON (one line, no &) into the bundle.
add_hooks() {
	sed -i "s|\"linux\":|\"hooks\": {$2}, \"linux\":|" "$1/config.json"
	grep -q '"hooks"' "$1/config.json" || fail "could not add hooks to $1"
}

make_bundle bundle 'echo started; while true; do sleep 0.1; done' || fail "could not make the bundle"
add_hooks bundle "\"prestart\": [$(host_hook prestart)], \"createRuntime\": [$(host_hook createRuntime)], \"createContainer\": [$(guest_hook createContainer)], \"startContainer\": [$(guest_hook startContainer)], \"poststart\": [$(host_hook poststart)], \"poststop\": [$(host_hook poststop)]"

rv create --bundle bundle --pid-file pid c1 </dev/null >out 2>err || { cat err; fail "create with hooks failed"; }
pid=$(cat pid)
echo "--- after create: order: $(cat order 2>/dev/null | tr '\n' ' '); prestart.json: $(cat prestart.json)"
[ "$(cat order)" = "$(printf 'prestart\ncreateRuntime')" ] || fail "prestart then createRuntime should have run, in order"
for hook in prestart createRuntime; do
	grep -q '"id":"c1"' $hook.json || fail "$hook did not get the state on stdin"
	grep -q "\"pid\":$pid," $hook.json || fail "$hook's state should carry the monitor's pid $pid"
	grep -q '"status":"creating"' $hook.json || fail "$hook's state should say creating"
done
grep -q '"id":"c1"' bundle/rootfs/createContainer.json || fail "createContainer did not run in the container with the state"
[ -e bundle/rootfs/startContainer.json ] && fail "startContainer ran before start"

rv start c1 || fail "start failed"
wait_for started out 60
grep -q '"id":"c1"' bundle/rootfs/startContainer.json || fail "startContainer did not run at start"
[ "$(cat bundle/rootfs/order)" = "$(printf 'createContainer\nstartContainer')" ] || fail "guest hooks out of order"
grep -q '"status":"running"' poststart.json || fail "poststart should see the container running"
rv kill c1 KILL
wait_stopped "$root" c1 10
rv delete c1 || fail "delete failed"
echo "--- after delete: order: $(cat order | tr '\n' ' ')"
[ "$(tail -1 order)" = poststop ] || fail "poststop should run at delete, last"
grep -q '"status":"stopped"' poststop.json || fail "poststop should see the container stopped"
nothing_under "$root"

# create_fails BUNDLE PATTERN: create must fail with PATTERN and leave nothing.
create_fails() {
	rv create --bundle "$1" c2 </dev/null >fail.out 2>fail.err && fail "create of $1 should fail"
	status=$?
	echo "--- $1: exit $status: $(cat fail.err)"
	[ "$status" = 1 ] || fail "create of $1 should exit 1"
	[ "$(wc -l <fail.err)" = 1 ] || fail "the error should be one line"
	grep -q "$2" fail.err || fail "the error should say '$2'"
	nothing_under "$root"
}
make_bundle failing 'true' || fail "could not make a bundle"
add_hooks failing "\"prestart\": [{\"path\": \"$BUSYBOX\", \"args\": [\"false\"]}]"
create_fails failing "prestart hook $BUSYBOX: exit status 1"
make_bundle slow 'true' || fail "could not make a bundle"
add_hooks slow "\"createRuntime\": [{\"path\": \"$BUSYBOX\", \"args\": [\"sleep\", \"30\"], \"timeout\": 1}]"
create_fails slow "createRuntime hook $BUSYBOX: timed out after 1 s"
make_bundle guestfail 'true' || fail "could not make a bundle"
add_hooks guestfail "\"createContainer\": [{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"echo no-way >/dev/stderr; exit 3\"]}]"
create_fails guestfail 'createContainer hook /bin/sh: exit status 3: "no-way"'
