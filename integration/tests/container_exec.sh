# `runvm exec` into a running container, as docker exec and kubectl exec
# drive it: output and exit code, flags shaping the process, a terminal,
# `--detach` with `--pid-file` (the pid is a live host process that ends
# with the exec'd process), `ps --format json` listing the host processes
# that stand for init and the exec'd process (the monitor and the exec's
# relay: what `docker top` looks up among the host's processes), and the
# errors for a bad process file and a stopped container.
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
root=$PWD/root
make_bundle bundle 'echo $$ >/tmp/init.pid; echo started; while true; do sleep 0.1; done' \
	|| fail "could not make the bundle"
echo "a file of the rootfs" >bundle/rootfs/marker
rv() { "$RUNVM" --root "$root" "$@"; }

rv create --bundle bundle c1 >init.out 2>init.err </dev/null || { cat init.err; fail "create failed"; }
rv start c1 || fail "start failed"
wait_for started init.out 60

rv exec c1 sh -c 'echo from-exec; cat /marker; hostname; echo to-stderr >&2; exit 7' >out 2>err </dev/null
status=$?
echo "--- exec exit $status; stdout:"; cat out; echo "--- stderr:"; cat err
[ "$status" = 7 ] || fail "exec should exit with the process's status 7"
grep -q "^from-exec$" out || fail "no output from the exec'd process"
grep -q "^a file of the rootfs$" out || fail "the exec'd process does not see the container's rootfs"
grep -q "^runvm-test$" out || fail "the exec'd process has not the container's hostname"
grep -q "^to-stderr$" err || fail "the exec'd process's stderr did not reach exec's stderr"

echo "piped in" | rv exec -e FOO=bar --cwd /tmp -u 1000:1001 c1 sh -c 'echo "$FOO $(pwd) $(id -u):$(id -g)"; cat' >out 2>err
echo "--- flags:"; cat out err
grep -q "^bar /tmp 1000:1001$" out || fail "--env, --cwd and --user were not applied"
grep -q "^piped in$" out || fail "exec's stdin did not reach the process"

rv exec -t c1 sh -c 'tty' >out 2>err </dev/null || { cat err; fail "exec --tty failed"; }
echo "--- tty:"; cat out
grep -q "^/dev/pts/[0-9]" out || fail "exec --tty should give the process a pty"

# ps --format json lists host pids: the monitor stands for init.
monitor=$(monitor_pid "$root" c1)
rv ps --format json c1 >ps0.json || fail "ps failed"
[ "$(tr -d ' \n' <ps0.json)" = "[$monitor]" ] || fail "ps should list only the monitor $monitor: $(cat ps0.json)"
rv exec -d --pid-file epid c1 sh -c 'echo $$ >/tmp/exec.pid; trap "exit 0" TERM; while true; do sleep 0.1; done' \
	>det.out 2>det.err </dev/null
status=$?
cat det.err
[ "$status" = 0 ] || fail "exec --detach failed"
[ -s epid ] || fail "exec --detach wrote no pid file"
hostpid=$(cat epid)
alive "$hostpid" || fail "the pid file's process $hostpid is not running"
tries=100
while [ ! -s bundle/rootfs/tmp/exec.pid ] && [ $tries -gt 0 ]; do sleep 0.1; tries=$((tries - 1)); done
guestpid=$(cat bundle/rootfs/tmp/exec.pid) || fail "the detached process did not run"
initpid=$(cat bundle/rootfs/tmp/init.pid)
[ "$initpid" = 1 ] || fail "the container's process should be PID 1 of its namespace, is $initpid"
[ "$guestpid" != 1 ] || fail "the exec'd process should join the container's PID namespace, not be PID 1 of its own"
rv ps --format json c1 >ps.json || fail "ps failed"
rv ps c1 >ps.table || fail "ps (table) failed"
echo "--- ps: $(cat ps.json); monitor $monitor, exec relay $hostpid; in the container: init $initpid, exec $guestpid"
cat ps.table
if [ "$monitor" -lt "$hostpid" ]; then both="[$monitor,$hostpid]"; else both="[$hostpid,$monitor]"; fi
[ "$(tr -d ' \n' <ps.json)" = "$both" ] \
	|| fail "ps --format json should list the monitor and the exec's relay, $both: $(cat ps.json)"
grep -q "^$monitor	[0-9]*	init$" ps.table || fail "the ps table should show the monitor $monitor for init"
grep -q "^$hostpid	[0-9]*	exec-" ps.table || fail "the ps table should show the relay $hostpid for the exec"
kill -TERM "$hostpid"
tries=100
while alive "$hostpid" && [ $tries -gt 0 ]; do sleep 0.1; tries=$((tries - 1)); done
alive "$hostpid" && fail "the detached exec's host process outlived its guest process after TERM"
[ "$(rv ps --format json c1 | tr -d ' \n')" = "[$monitor]" ] || fail "the exec'd process is still listed after it ended"

echo '{"args": ["true"], "cwd": ' >bad.json
rv exec --process bad.json c1 >out 2>err && fail "exec with invalid process JSON should fail"
cat err
grep -q "invalid process JSON" err || fail "the error should name the invalid process JSON"

rv kill c1 KILL || fail "kill failed"
wait_stopped "$root" c1 10
rv exec c1 true >out 2>err && fail "exec into a stopped container should fail"
cat err
grep -q "cannot exec in a stopped container" err || fail "the error should say the container is stopped"
rv delete c1 || fail "delete failed"
nothing_under "$root"
