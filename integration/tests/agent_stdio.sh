# `runvm boot -- COMMAND` runs COMMAND in the guest through the agent:
# its stdout reaches the caller's stdout and its stderr the caller's
# stderr, separately and nothing else (the guest console is not there).
. "$TEST_LIB/guest.sh"
bb=$(busybox_initrd) || fail "could not build the busybox initrd"

"$RUNVM" boot --extra-initrd "$bb" -- sh -c 'echo hello; echo oops >&2' >out 2>err
status=$?
echo "--- exit $status; stdout:"; cat out; echo "--- stderr:"; cat err
[ "$status" = 0 ] || fail "expected exit 0"
[ "$(cat out)" = hello ] || fail "stdout should be exactly 'hello'"
[ "$(cat err)" = oops ] || fail "stderr should be exactly 'oops'"
