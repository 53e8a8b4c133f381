# The container's /proc/cmdline: with runvm the guest kernel's (it boots its
# own), with runc the test host's (the container shares its kernel).
. "$TEST_LIB/client.sh"
client_case "$1"

host_cmdline=$(cat /proc/cmdline)
echo "test host's /proc/cmdline: $host_cmdline"
run_logged out docker run --rm --runtime "$RUNTIME" "$IMAGE" cat /proc/cmdline
expect_status $? 0 "docker run"
[ -s out ] || fail "the container's /proc/cmdline is empty"
if [ "$RUNTIME" = runvm ]; then
	[ "$(cat out)" != "$host_cmdline" ] || fail "the container sees the test host's command line"
	grep -q virtio_mmio.device= out || fail "no virtio_mmio.device= on the guest's command line"
else
	expect_output out "$host_cmdline"
fi
