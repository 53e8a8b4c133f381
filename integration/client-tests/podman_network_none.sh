# podman run --network none: the container's only network is its loopback.
. "$TEST_LIB/client.sh"
client_case "$1"

run_logged out podman --runtime "$RUNTIME" run --rm --network none "$IMAGE" \
	sh -c 'ls /sys/class/net; ip -o addr'
expect_status $? 0 "podman run --network none"
# Devices every network namespace has (sit0 and the like) may be listed;
# none but lo may have an address.
grep -qx lo out || fail "no lo"
grep -q '^[0-9]*: lo  *inet 127.0.0.1/8' out || fail "lo has no 127.0.0.1"
addressed=$(grep '^[0-9]*: ' out | awk '{ print $2 }' | sort -u)
[ "$addressed" = lo ] || fail "interfaces with an address: $addressed (only lo expected)"
