# 10 MiB of random bytes piped into `cat` in the guest come back
# byte-exact: stdin and stdout relays through vsock lose and add nothing.
. "$TEST_LIB/guest.sh"
bb=$(busybox_initrd) || fail "could not build the busybox initrd"

head -c 10485760 /dev/urandom >in
"$RUNVM" boot --memory 256 --extra-initrd "$bb" -- cat <in >out 2>err
status=$?
echo "--- exit $status; stderr:"; cat err
[ "$status" = 0 ] || fail "expected exit 0"
sent=$(sha256sum <in) got=$(sha256sum <out)
echo "sent $(wc -c <in) bytes: $sent"
echo "got  $(wc -c <out) bytes: $got"
[ "$sent" = "$got" ] || fail "the bytes that came back differ"
