# With a terminal: the process runs on a pty in the guest (`tty` prints a
# /dev/pts path), the initial console size is what `stty size` prints,
# and a size set later from the host through the agent is too.
. "$TEST_LIB/guest.sh"
bb=$(busybox_initrd) || fail "could not build the busybox initrd"

"$RUNVM" boot --tty --console-size 40x100 --extra-initrd "$bb" -- sh -c 'tty; stty size' >out 2>err
status=$?
echo "--- exit $status; output:"; cat out; echo "--- stderr:"; cat err
[ "$status" = 0 ] || fail "expected exit 0"
grep -q "^/dev/pts/[0-9]" out || fail "tty should print a /dev/pts path"
grep -q "^40 100" out || fail "stty size should print '40 100'"

"$RUNVM" boot --tty --control "$PWD/control.sock" --extra-initrd "$bb" \
	-- sh -c 'echo ready; while [ "$(stty size)" != "50 132" ]; do sleep 0.1; done; stty size' >out2 2>err2 &
wait_for ready out2 120
"$VMCTL" resize "$PWD/control.sock" 50 132 || fail "vmctl resize failed"
wait $!
echo "--- second run:"; cat out2; cat err2
grep -q "^50 132" out2 || fail "stty size should print '50 132' after the resize"
