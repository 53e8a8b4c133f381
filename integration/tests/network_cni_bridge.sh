# podman's and Kubernetes' way: a real CNI plugin (bridge + host-local, as
# Debian ships them) sets up a namespace the test made, with an MTU of
# 1400, and the container joins it by path. The container sees the
# CNI-assigned address, MAC, default route and MTU; the host pings it; a
# server in the container answers a client on the host, and a server on the
# host answers the container. After delete (also after the monitor's
# SIGKILL, and delete --force) the namespace holds no tap and no ingress
# qdisc, and its veth is the CNI's again.
# timeout: 300
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
. "$TEST_LIB/net.sh"

cni_bridge_config net.json 10.88.7.0/24 1400
cni_netns cni1 net.json
echo "--- CNI result:"; cat cni1.json
ip=$(result_ip cni1.json)
mac=$(netns_mac cni1 eth0)
echo "--- CNI gave $ip, MAC $mac"
[ -n "$ip" ] && [ -n "$mac" ] || fail "no address or MAC from CNI"

mkdir -p www && echo "from the host" >www/host.txt
$BUSYBOX httpd -p 10.88.7.1:8081 -h www || fail "could not start the host's httpd"
make_bundle bundle 'mkdir -p /www && echo "from the container" >/www/c.txt && httpd -p 8080 -h /www; ip -o addr show; ip -o link show; ip route show; echo "mtu $(cat /sys/class/net/eth0/mtu)"; wget -q -O - http://10.88.7.1:8081/host.txt; echo ready; while true; do sleep 1; done' \
	|| fail "could not make the bundle"
add_net_applets bundle/rootfs
join_netns bundle /run/netns/cni1

start_container bundle c1
echo "--- container:"; cat c1.out
grep -q "eth0.*inet $ip/24" c1.out || fail "the container does not see $ip/24 on eth0"
grep -qi "eth0:.*link/ether $mac" c1.out || fail "the container's eth0 does not have the veth's MAC $mac"
grep -q 'default via 10.88.7.1' c1.out || fail "no default route via the bridge"
grep -q '^mtu 1400$' c1.out || fail "the container's MTU is not 1400"
grep -q '^from the host$' c1.out || fail "the container did not reach the host's server"
wait_reachable "$ip" 30
got=$(timeout 20 wget -q -O - "http://$ip:8080/c.txt") || fail "the host could not reach the container's server"
[ "$got" = "from the container" ] || fail "the container's server said: $got"
echo "--- the namespace while the container runs:"
$BUSYBOX nsenter --net=/run/netns/cni1 $IP -o link show
$BUSYBOX nsenter --net=/run/netns/cni1 $TC filter show dev eth0 ingress

end_container c1 /run/netns/cni1
# A monitor killed outright leaves the taps gone with it and the redirects
# on the veth: delete parts them. delete --force does the same.
start_container bundle c2
kill -9 "$(monitor_pid "$root" c2)"
wait_stopped "$root" c2 30
rv delete c2 || fail "delete after the monitor's SIGKILL failed"
nothing_under "$root"
no_runvm_wiring /run/netns/cni1
start_container bundle c3
rv delete --force c3 || fail "delete --force failed"
nothing_under "$root"
no_runvm_wiring /run/netns/cni1
$BUSYBOX nsenter --net=/run/netns/cni1 $IP -o addr show | grep -q "$ip/24" || fail "the CNI's veth lost its address"
cni_netns_delete cni1 net.json
bridge_delete
