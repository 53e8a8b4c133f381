# IPv6: a CNI config with an IPv4 and an IPv6 range; the container gets
# both addresses and an IPv6 default route, answers pings on its IPv6
# address, and its server answers a client on the host over IPv6.
# timeout: 300
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
. "$TEST_LIB/net.sh"

cni_bridge_config net.json 10.88.10.0/24 1500 '[{"subnet": "fd00:88:10::/64"}]'
cni_netns v6 net.json
echo "--- CNI result:"; cat v6.json
ip6=$(result_ip v6.json 6)
echo "--- IPv6 address: $ip6"
[ -n "$ip6" ] || fail "no IPv6 address from CNI"
make_bundle bundle 'mkdir -p /www && echo "over ipv6" >/www/index.html && httpd -p 8080 -h /www
ip -o -6 addr show; ip -6 route show; echo ready; while true; do sleep 1; done' || fail "could not make the bundle"
add_net_applets bundle/rootfs
join_netns bundle /run/netns/v6
start_container bundle c1
echo "--- container:"; cat c1.out
grep -q "eth0.*inet6 $ip6/64" c1.out || fail "the container does not see $ip6/64"
grep -q '^default via fd00:88:10::1' c1.out || fail "no IPv6 default route via the bridge"
wait_reachable "$ip6" 30
got=$(wget -q -T 10 -O - "http://[$ip6]:8080/index.html") || fail "no answer over IPv6"
[ "$got" = "over ipv6" ] || fail "the container's server said: $got"
end_container c1 /run/netns/v6
cni_netns_delete v6 net.json
