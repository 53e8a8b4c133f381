# `delete --force` of a running container, and `delete` after its
# monitor was SIGKILLed: no process, socket or directory is left.
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
grep -q "runvm" /proc/mounts && fail "a runvm mount leaked into the host: $(grep runvm /proc/mounts)"
exit 0
