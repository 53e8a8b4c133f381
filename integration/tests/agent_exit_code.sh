# The caller sees the container process's exit code.
. "$TEST_LIB/guest.sh"
bb=$(busybox_initrd) || fail "could not build the busybox initrd"

ended=$("$VMCTL" status "$RUNVM" boot --extra-initrd "$bb" -- sh -c 'exit 42')
echo "runvm boot -- sh -c 'exit 42': $ended"
[ "$ended" = "exit 42" ] || fail "expected 'exit 42'"
