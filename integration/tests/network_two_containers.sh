# Two containers on one CNI bridge reach each other by address: a server in
# the first answers a client in the second.
# timeout: 300
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
. "$TEST_LIB/net.sh"

cni_bridge_config net.json 10.88.8.0/24
cni_netns two1 net.json
cni_netns two2 net.json
ip1=$(result_ip two1.json)
echo "--- first container's address: $ip1"
make_bundle first 'mkdir -p /www && echo "hello from the first" >/www/a.txt && httpd -p 8080 -h /www && echo ready; while true; do sleep 1; done' \
	|| fail "could not make the bundle"
make_bundle second "wget -q -O - http://$ip1:8080/a.txt && echo fetched; ping -c 1 -W 10 $ip1 && echo pinged" \
	|| fail "could not make the bundle"
for b in first second; do add_net_applets $b/rootfs; done
join_netns first /run/netns/two1
join_netns second /run/netns/two2

start_container first a
rv run --bundle second b </dev/null >b.out 2>b.err
echo "--- second: exit $?"; cat b.out b.err
grep -q '^hello from the first$' b.out || fail "the second container did not reach the first's server"
grep -q '^pinged$' b.out || fail "the second container could not ping the first"
end_container a /run/netns/two1
no_runvm_wiring /run/netns/two2
cni_netns_delete two1 net.json
cni_netns_delete two2 net.json
