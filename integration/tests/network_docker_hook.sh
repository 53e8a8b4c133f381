# docker's way: a network namespace without a path, filled by a prestart
# hook that reads the state from stdin and moves a veth end into
# /proc/<pid>/ns/net with an address (what libnetwork-setkey has dockerd
# do). The hook configures the container's namespace, never the test
# host's: the container sees the address and reaches the host's end, and
# the host's own interfaces, addresses and routes are the same before and
# after. delete leaves no tap or tc filter behind.
# timeout: 240
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
. "$TEST_LIB/net.sh"

host_network >before
cat >hook.sh <<HOOK
state=\$(cat)
pid=\$(echo "\$state" | sed -n 's/.*"pid":\([0-9]*\),.*/\1/p')
echo "hook: monitor pid \$pid, netns \$(readlink /proc/\$pid/ns/net)" >>$PWD/hook.log
$IP link add vh0 type veth peer name vc0 || exit 1
$IP link set vc0 netns "\$pid" || exit 1
$IP addr add 10.200.0.1/24 dev vh0 && $IP link set vh0 up || exit 1
in_ns() { $BUSYBOX nsenter --net=/proc/\$pid/ns/net "\$@"; }
in_ns $IP link set vc0 name eth0 || exit 1
in_ns $IP addr add 10.200.0.2/24 dev eth0 || exit 1
in_ns $IP link set eth0 up || exit 1
in_ns $IP route add default via 10.200.0.1 || exit 1
echo "hook: done" >>$PWD/hook.log
HOOK
make_bundle bundle 'ip -o addr show; ip route show; echo ready; ping -c 1 -W 10 10.200.0.1 && echo pinged-host; while true; do sleep 1; done' \
	|| fail "could not make the bundle"
add_net_applets bundle/rootfs
sed -i "s|\"linux\":|\"hooks\": {\"prestart\": [{\"path\": \"$BUSYBOX\", \"args\": [\"sh\", \"$PWD/hook.sh\"]}]}, \"linux\":|" bundle/config.json

rv create --bundle bundle --pid-file pid c1 </dev/null >out 2>err || { cat err hook.log; fail "create failed"; }
pid=$(cat pid)
cat hook.log
echo "--- the monitor's netns: $(readlink /proc/$pid/ns/net); the test host's: $(readlink /proc/self/ns/net)"
[ "$(readlink /proc/$pid/ns/net)" != "$(readlink /proc/self/ns/net)" ] || fail "the monitor is in the test host's network namespace"
grep -q "hook: done" hook.log || fail "the hook did not finish"
$IP -o addr show | grep -q 10.200.0.2 && fail "the container's address is on the test host"
rv start c1 || fail "start failed"
wait_for '^ready$' out 60
wait_for 'pinged-host' out 60
echo "--- container:"; cat out
grep -q 'eth0.*inet 10.200.0.2/24' out || fail "the container does not see its address on eth0"
grep -q 'default via 10.200.0.1' out || fail "the container has no default route via 10.200.0.1"
wait_reachable 10.200.0.2 30
echo "--- the monitor's namespace while it runs:"
$BUSYBOX nsenter --net=/proc/$pid/ns/net $IP -o link show
$BUSYBOX nsenter --net=/proc/$pid/ns/net $TC filter show dev eth0 ingress
rv kill c1 KILL
wait_stopped "$root" c1 30
rv delete c1 || fail "delete failed"
nothing_under "$root"
# The namespace went with the monitor, and the veth pair with it.
tries=50
while $IP link show vh0 >/dev/null 2>&1 && [ $tries -gt 0 ]; do sleep 0.1; tries=$((tries - 1)); done
host_network >after
diff before after || fail "the test host's network changed"
