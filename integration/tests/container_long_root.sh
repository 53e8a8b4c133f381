# A state directory as long as docker's, and longer: containerd's shim
# runs `runvm --root /var/run/docker/runtime-runc/moby --log <bundle>/log.json
# --log-format json create ... <64-hex id>`, so every socket path in the
# container's directory is over the 108 bytes a socket address holds.
# create, start, exec (attached, with a terminal, detached), ps, kill and
# delete all work, and nothing is left behind.
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
deep=$PWD/$(printf 'd%.0s' $(seq 100))
root=$deep/var/run/docker/runtime-runc/moby
id=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
make_bundle bundle 'echo started; while true; do sleep 0.1; done' || fail "could not make the bundle"
rv() { "$RUNVM" --root "$root" --log "$PWD/bundle/log.json" --log-format json "$@"; }
echo "the control socket's path is $(printf %s "$root/$id/monitor.sock" | wc -c) bytes"

rv create --bundle "$PWD/bundle" --pid-file "$PWD/pid" "$id" >init.out 2>init.err </dev/null \
	|| { cat init.err bundle/log.json; fail "create under a long --root failed"; }
[ "$(cat pid)" = "$(monitor_pid "$root" "$id")" ] || fail "the pid file does not name the monitor"
rv start "$id" || { cat bundle/log.json; fail "start failed"; }
wait_for started init.out 60

rv exec "$id" sh -c 'echo from-exec; exit 5' >out 2>err </dev/null
status=$?
cat out err
[ "$status" = 5 ] || fail "exec should exit 5, exited $status"
grep -q "^from-exec$" out || fail "no output from the exec'd process"
rv exec -t "$id" tty >out 2>err </dev/null || { cat err; fail "exec --tty failed"; }
grep -q "^/dev/pts/[0-9]" out || fail "exec --tty should give the process a pty: $(cat out)"

rv exec -d --pid-file "$PWD/epid" "$id" sh -c 'trap "exit 0" TERM; while true; do sleep 0.1; done' \
	</dev/null >/dev/null 2>det.err || { cat det.err; fail "exec --detach failed"; }
alive "$(cat epid)" || fail "the detached exec's host process is not running"
rv ps --format json "$id" >ps.json || fail "ps failed"
grep -q "\b$(cat epid)\b" ps.json || fail "ps should list the detached exec's host process: $(cat ps.json)"

rv kill "$id" KILL || fail "kill failed"
wait_stopped "$root" "$id" 10
rv delete "$id" || fail "delete failed"
tries=50
while alive "$(cat epid)" && [ $tries -gt 0 ]; do sleep 0.1; tries=$((tries - 1)); done
alive "$(cat epid)" && fail "the detached exec's host process outlived the container"
nothing_under "$root"
grep '"level":"error"' bundle/log.json && fail "runvm logged an error"
exit 0
