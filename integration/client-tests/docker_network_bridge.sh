# docker's default bridge network: the container has an address on
# docker0's network and reaches the host's side of docker0.
. "$TEST_LIB/client.sh"
client_case "$1"

gateway=$(ip -4 -o addr show docker0 | awk '{ split($4, a, "/"); print a[1] }')
echo "docker0: $gateway"
[ -n "$gateway" ] || fail "docker0 has no address"
run_logged out docker run --rm --runtime "$RUNTIME" "$IMAGE" \
	sh -c "ip -4 -o addr show eth0 && ping -c 1 -W 10 $gateway"
expect_status $? 0 "docker run (ip addr, ping $gateway)"
prefix=${gateway%.*.*}
grep -q "inet $prefix\.[0-9]*\.[0-9]*/16" out || fail "eth0 has no address on docker0's network"
grep -q '1 packets received' out || fail "no reply from docker0"
