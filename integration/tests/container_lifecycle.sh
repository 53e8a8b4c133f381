# The runc lifecycle, as a shim drives it: create (pid file = the
# monitor, state `created`), start (`running`), kill TERM (`stopped`),
# delete, and then state says the container does not exist.
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
root=$PWD/root
make_bundle bundle 'trap "echo got-term; exit 0" TERM; echo started; while true; do sleep 0.1; done' \
	|| fail "could not make the bundle"

"$RUNVM" --root "$root" create --bundle bundle --pid-file pid c1 >out 2>err </dev/null
status=$?
echo "--- create exit $status; stderr:"; cat err
[ "$status" = 0 ] || fail "create failed"
pid=$(cat pid)
state=$("$RUNVM" --root "$root" state c1)
echo "$state"
echo "$state" | grep -q '"status": "created"' || fail "state should be created"
echo "$state" | grep -q "\"pid\": $pid," || fail "state pid should be the pid file's $pid"
alive "$pid" || fail "pid $pid from the pid file is not running"

"$RUNVM" --root "$root" start c1 || fail "start failed"
wait_for started out 60
"$RUNVM" --root "$root" state c1 | grep -q '"status": "running"' || fail "state should be running"

"$RUNVM" --root "$root" kill c1 TERM || fail "kill failed"
tries=100
while "$RUNVM" --root "$root" state c1 | grep -q '"status": "running"' && [ $tries -gt 0 ]; do
	sleep 0.1; tries=$((tries - 1))
done
"$RUNVM" --root "$root" state c1 | grep -q '"status": "stopped"' || fail "state should be stopped after kill TERM"
grep -q got-term out || fail "the container's TERM trap did not run"

"$RUNVM" --root "$root" delete c1 || fail "delete failed"
"$RUNVM" --root "$root" state c1 >state.out 2>&1 && fail "state after delete should fail"
cat state.out
grep -q "does not exist" state.out || fail "state after delete should say 'does not exist'"
nothing_under "$root"
