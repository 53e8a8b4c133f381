# IPv6: a CNI config with an IPv4 and an IPv6 range; the container gets
# both addresses and an IPv6 default route, answers pings on its IPv6
# address, and its server answers a client on the host over IPv6.
# timeout: 300
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
. "$TEST_LIB/net.sh"
set -o pipefail
root=$PWD/root
rv() { "$RUNVM" --root "$root" "$@"; }

$IP netns add v6 || fail "ip netns add failed"
cni_bridge_config net.json 10.88.10.0/24 1500 '[{"subnet": "fd00:88:10::/64"}]'
cni bridge ADD /run/netns/v6 v6 net.json >result.json || { cat result.json; fail "CNI ADD failed"; }
echo "--- CNI result:"; cat result.json
ip6=$(result_ip result.json 6)
echo "--- IPv6 address: $ip6"
[ -n "$ip6" ] || fail "no IPv6 address from CNI"
make_bundle bundle 'mkdir -p /www && echo "over ipv6" >/www/index.html && httpd -p 8080 -h /www
ip -o -6 addr show; ip -6 route show; echo ready; while true; do sleep 1; done' || fail "could not make the bundle"
add_net_applets bundle/rootfs
join_netns bundle /run/netns/v6
rv create --bundle bundle c1 </dev/null >out 2>err || { cat err; fail "create failed"; }
rv start c1 || fail "start failed"
wait_for '^ready$' out 90
echo "--- container:"; cat out
grep -q "eth0.*inet6 $ip6/64" out || fail "the container does not see $ip6/64"
grep -q '^default via fd00:88:10::1' out || fail "no IPv6 default route via the bridge"
wait_reachable "$ip6" 30
got=$(wget -q -T 10 -O - "http://[$ip6]:8080/index.html") || fail "no answer over IPv6"
[ "$got" = "over ipv6" ] || fail "the container's server said: $got"
rv kill c1 KILL
wait_stopped "$root" c1 30
rv delete c1 || fail "delete failed"
nothing_under "$root"
no_runvm_wiring /run/netns/v6
cni bridge DEL /run/netns/v6 v6 net.json
$IP netns delete v6
