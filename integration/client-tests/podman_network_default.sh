# podman's default network (netavark's bridge podman0): the container has
# an address on it and reaches the host's side of the bridge.
. "$TEST_LIB/client.sh"
client_case "$1"

# podman makes the bridge with its first container on the network.
# busybox ping needs a raw socket, which podman does not grant by default.
run_logged out podman --runtime "$RUNTIME" run --rm --cap-add NET_RAW "$IMAGE" \
	sh -c 'ip -4 -o addr show eth0 && ip -4 route && ping -c 1 -W 10 "$(ip -4 route | awk "/default/ { print \$3 }")"'
expect_status $? 0 "podman run (ip addr, ping the gateway)"
# netavark removes podman0 with the network's last container: the gateway
# is the one the container was given.
gateway=$(awk '/^default via/ { print $3 }' out)
echo "the container's gateway (podman0): $gateway"
[ -n "$gateway" ] || fail "the container has no default route"
grep -q "inet ${gateway%.*.*}\.[0-9]*\.[0-9]*/16" out || fail "eth0 has no address on podman0's network"
grep -q '1 packets received' out || fail "no reply from podman0"
