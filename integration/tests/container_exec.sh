# `runvm exec` into a running container, as docker exec and kubectl exec
# drive it: output and exit code, flags shaping the process, a terminal,
# `--detach` with `--pid-file` (the pid is a live host process that ends
# with the exec'd process), `ps --format json` listing init and the exec'd
# process, and the errors for a bad process file and a stopped container.
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

# ps lists the VM's pids (the agent's view), the container its own.
rv ps --format json c1 >ps0.json || fail "ps failed"
initvm=$(tr -d '[] \n' <ps0.json)
case "$initvm" in *,* | "") fail "ps should list only the init process: $(cat ps0.json)" ;; esac
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
echo "--- ps: $(cat ps.json); before the exec: $(cat ps0.json); in the container: init $initpid, exec $guestpid"
execvm=$(tr -d '[] \n' <ps.json | tr ',' '\n' | grep -vx "$initvm")
grep -q "\[.*\b$initvm\b.*\]" ps.json || fail "ps --format json does not list the init process $initvm"
[ "$(echo "$execvm" | wc -w)" = 1 ] || fail "ps --format json should list the init and the exec'd process: $(cat ps.json)"
kill -TERM "$hostpid"
tries=100
while alive "$hostpid" && [ $tries -gt 0 ]; do sleep 0.1; tries=$((tries - 1)); done
alive "$hostpid" && fail "the detached exec's host process outlived its guest process after TERM"
rv ps --format json c1 | grep -q "\b$execvm\b" && fail "the exec'd process is still listed after it ended"

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
