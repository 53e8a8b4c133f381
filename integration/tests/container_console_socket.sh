# `--console-socket`, as containerd and conmon use it for `terminal: true`:
# a receiver gets the pty master over SCM_RIGHTS, the window size it sets
# reaches the container, and it drives an interactive shell through it;
# the same for `exec --tty --detach --console-socket`.
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
root=$PWD/root
make_bundle bundle 'echo console-ready; exec sh -i' || fail "could not make the bundle"
sed -i 's/"terminal": false/"terminal": true/' bundle/config.json
rv() { "$RUNVM" --root "$root" "$@"; }

"$VMCTL" console "$PWD/console.sock" 30x90 console-ready 'stty size\necho hello-$((6*7))\nexit 3\n' \
	>console.out 2>console.err &
receiver=$!
tries=50
while [ ! -S console.sock ] && [ $tries -gt 0 ]; do sleep 0.1; tries=$((tries - 1)); done
rv create --bundle bundle --console-socket "$PWD/console.sock" c1 >out 2>err </dev/null \
	|| { cat err; fail "create with a console socket failed"; }
rv start c1 || fail "start failed"
wait $receiver
status=$?
echo "--- receiver exit $status; what it saw:"; cat console.out; cat console.err
[ "$status" = 0 ] || fail "the console receiver failed"
grep -q "hello-42" console.out || fail "the shell did not run the typed command"
grep -q "30 90" console.out || fail "the container's pty should have the receiver's size 30x90"
wait_stopped "$root" c1 10
rv delete c1 || fail "delete failed"

make_bundle bundle2 'echo started; while true; do sleep 0.1; done' || fail "could not make the second bundle"
rv create --bundle bundle2 c2 >c2.out 2>c2.err </dev/null || { cat c2.err; fail "create c2 failed"; }
rv start c2 || fail "start c2 failed"
wait_for started c2.out 60
"$VMCTL" console "$PWD/exec.sock" 25x70 exec-ready 'stty size; tty\nexit\n' >exec.out 2>exec.err &
receiver=$!
tries=50
while [ ! -S exec.sock ] && [ $tries -gt 0 ]; do sleep 0.1; tries=$((tries - 1)); done
rv exec -t -d --console-socket "$PWD/exec.sock" --pid-file epid c2 sh -c 'echo exec-ready; exec sh -i' \
	</dev/null || fail "exec --tty --detach --console-socket failed"
wait $receiver
status=$?
echo "--- exec receiver exit $status; what it saw:"; cat exec.out; cat exec.err
[ "$status" = 0 ] || fail "the exec console receiver failed"
grep -q "25 70" exec.out || fail "the exec'd pty should have the receiver's size 25x70"
grep -q "/dev/pts/[0-9]" exec.out || fail "the exec'd shell should be on a pty"
rv delete --force c2 || fail "delete --force failed"
nothing_under "$root"
