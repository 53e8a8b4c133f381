# A container process killed by SIGKILL, sent from the host through the
# agent: the monitor dies of SIGKILL too, so its parent sees what runc
# would give it (a shell reports 137).
. "$TEST_LIB/guest.sh"
bb=$(busybox_initrd) || fail "could not build the busybox initrd"

"$VMCTL" status "$RUNVM" boot --control "$PWD/control.sock" --extra-initrd "$bb" \
	-- sh -c 'echo started; exec sleep 1000' >out 2>err &
wait_for started out 120
"$VMCTL" signal "$PWD/control.sock" 9 || fail "vmctl signal failed"
wait
echo "--- output:"; cat out; echo "--- stderr:"; cat err
grep -q "^signal 9$" out || fail "the monitor should have died of SIGKILL"

sh -c "\"$RUNVM\" boot --control \"$PWD/c2.sock\" --extra-initrd \"$bb\" -- sh -c 'echo started; exec sleep 1000' >out2 2>&1" &
wait_for started out2 120
"$VMCTL" signal "$PWD/c2.sock" 9 || fail "vmctl signal failed"
wait $!
status=$?
echo "a shell sees exit status $status"
[ "$status" = 137 ] || fail "a shell should see 137"
