# podman run --network none: the container has only its loopback.
. "$TEST_LIB/client.sh"
client_case "$1"

run_logged out podman --runtime "$RUNTIME" run --rm --network none "$IMAGE" \
	sh -c 'ls /sys/class/net; ip -4 -o addr show lo'
expect_status $? 0 "podman run --network none"
[ "$(sed -n 1p out)" = lo ] && [ "$(wc -l <out)" = 2 ] || fail "interfaces other than lo, or none"
grep -q 'inet 127.0.0.1/8' out || fail "lo has no 127.0.0.1"
