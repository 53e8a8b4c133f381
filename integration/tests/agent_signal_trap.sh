# Signals reach the running process: one sent through the agent from the
# control socket, and one sent to the monitor itself, which forwards it
# as `runc run` does. A trap in the guest writes a marker for each.
. "$TEST_LIB/guest.sh"
bb=$(busybox_initrd) || fail "could not build the busybox initrd"

script='trap "echo got-usr1" USR1; trap "echo got-term; exit 7" TERM; echo ready; while true; do sleep 0.1; done'
"$RUNVM" boot --control "$PWD/control.sock" --extra-initrd "$bb" -- sh -c "$script" >out 2>err &
monitor=$!
wait_for ready out 120
"$VMCTL" signal "$PWD/control.sock" 10 || fail "vmctl signal failed"
wait_for got-usr1 out 30
kill -TERM "$monitor"
wait "$monitor"
status=$?
echo "--- exit $status; output:"; cat out; echo "--- stderr:"; cat err
grep -q got-term out || fail "SIGTERM sent to the monitor did not reach the trap"
[ "$status" = 7 ] || fail "expected exit 7 from the TERM trap"
