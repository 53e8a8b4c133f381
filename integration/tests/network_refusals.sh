# What a VM cannot do is refused, never done differently: a spec without a
# network namespace (host networking) fails create with one sentence and
# leaves nothing; with the annotation io.runvm.network=none the container
# has loopback only; a fresh namespace with nothing in it gives loopback
# only; a namespace path that is not a network namespace is refused.
# timeout: 180
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
. "$TEST_LIB/net.sh"
host_network >before

make_bundle host 'ip -o link show' || fail "could not make the bundle"
add_net_applets host/rootfs
sed -i 's|{"type": "network"}, ||' host/config.json
grep -q '"network"' host/config.json && fail "could not drop the network namespace"
rv run --bundle host h1 </dev/null >out 2>err && fail "host networking was not refused"
echo "--- host networking: $(cat err)"
grep -q "a VM cannot share the host's network stack" err || fail "the refusal does not say why"
[ "$(wc -l <err)" = 1 ] || fail "the refusal is not one line"
nothing_under "$root"

annotate host io.runvm.network none || fail "could not set the network annotation"
rv run --bundle host h2 </dev/null >out 2>err || { cat err; fail "run with io.runvm.network=none failed"; }
echo "--- io.runvm.network=none:"; cat out
# Loopback only: no Ethernet card (an IPv6 kernel's sit0 tunnel is in every
# namespace, as on any host).
grep -q ': lo:' out || fail "no loopback"
grep -q 'link/ether' out && fail "io.runvm.network=none should give loopback only"

make_bundle fresh 'ip -o link show; ip -o addr show' || fail "could not make the bundle"
add_net_applets fresh/rootfs
rv run --bundle fresh f1 </dev/null >out 2>err || { cat err; fail "run in a fresh namespace failed"; }
echo "--- fresh namespace:"; cat out
grep -q ': lo:' out || fail "no loopback"
grep -q 'link/ether' out && fail "a fresh namespace should give loopback only"
grep -q 'inet 127.0.0.1/8' out || fail "loopback has no 127.0.0.1"

make_bundle wrong 'true' || fail "could not make the bundle"
join_netns wrong /proc/self/ns/uts
rv run --bundle wrong w1 </dev/null >out 2>err && fail "a UTS namespace path was taken as a network namespace"
echo "--- wrong type: $(cat err)"
grep -q "is a namespace of type uts, not network" err || fail "the error should say the path is a UTS namespace, not a network one"
nothing_under "$root"
host_network >after
diff before after || fail "the test host's network changed"
