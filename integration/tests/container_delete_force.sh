# `delete --force` of a running container, `delete` after its monitor
# was SIGKILLed, and `delete --force` while `create` is still running (in
# a prestart hook, before any state exists): no process, socket or
# directory is left.
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
root=$PWD/root
make_bundle bundle 'echo started; exec sleep 1000' || fail "could not make the bundle"

"$RUNVM" --root "$root" run -d --bundle bundle --pid-file pid1 d1 >out1 2>err1 </dev/null \
	|| { cat err1; fail "run -d failed"; }
wait_for started out1 60
pid=$(cat pid1)
"$RUNVM" --root "$root" delete d1 >err 2>&1 && fail "delete of a running container should fail"
grep -q "not stopped" err || { cat err; fail "delete of a running container should say 'not stopped'"; }
"$RUNVM" --root "$root" delete --force d1 || fail "delete --force failed"
alive "$pid" && fail "the monitor $pid survived delete --force"

"$RUNVM" --root "$root" run -d --bundle bundle --pid-file pid2 d2 >out2 2>err2 </dev/null \
	|| { cat err2; fail "run -d failed"; }
wait_for started out2 60
pid=$(cat pid2)
kill -9 "$pid"
sleep 0.5
"$RUNVM" --root "$root" state d2 | grep -q '"status": "stopped"' || fail "state after SIGKILL of the monitor should be stopped"
"$RUNVM" --root "$root" delete d2 || fail "delete after the monitor died failed"
nothing_under "$root"

W=$PWD
sed -i "s|\"linux\":|\"hooks\": {\"prestart\": [{\"path\": \"$BUSYBOX\", \"args\": [\"sh\", \"-c\", \"cat >$W/hook.json; echo \$\$ >$W/hook.pid; exec $BUSYBOX sleep 100\"]}]}, \"linux\":|" bundle/config.json
grep -q prestart bundle/config.json || fail "could not add the prestart hook"
"$RUNVM" --root "$root" create --bundle bundle d3 >out3 2>err3 </dev/null &
create=$!
wait_for . hook.pid 60
monitor=$(sed -n 's/.*"pid":\([0-9]*\),.*/\1/p' hook.json)
hook=$(cat hook.pid)
alive "$monitor" && alive "$hook" || fail "the monitor $monitor or its prestart hook $hook is not running"
"$RUNVM" --root "$root" state d3 >/dev/null 2>&1 && fail "state should not know a container whose create has not finished"
"$RUNVM" --root "$root" delete --force d3 || fail "delete --force of a container being created failed"
alive "$monitor" && fail "the monitor $monitor survived delete --force during create"
wait $create && fail "create should fail once delete --force killed its monitor"
echo "--- create's stderr:"; cat err3
tries=50
while alive "$hook" && [ $tries -gt 0 ]; do sleep 0.1; tries=$((tries - 1)); done
alive "$hook" && fail "the prestart hook $hook survived delete --force"
nothing_under "$root"
"$RUNVM" --root "$root" delete --force d3 2>err && fail "delete --force of a deleted container should fail"
grep -q "does not exist" err || fail "a second delete --force should say it does not exist: $(cat err)"
grep -q "runvm" /proc/mounts && fail "a runvm mount leaked into the host: $(grep runvm /proc/mounts)"
exit 0
