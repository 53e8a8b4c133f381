# A port mapping as `docker run -p` and CNI's portmap make it: the portmap
# plugin, chained after bridge as podman and Kubernetes chain it, DNATs a
# host port to the container's address; a client on the host reaches a
# busybox httpd in the container through it.
# timeout: 300
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
. "$TEST_LIB/net.sh"

cni_bridge_config net.json 10.88.9.0/24
cni_netns pm net.json
printf '{"cniVersion": "1.0.0", "name": "runvm-test", "type": "portmap", "capabilities": {"portMappings": true}, "runtimeConfig": {"portMappings": [{"hostPort": 18080, "containerPort": 8080, "protocol": "tcp"}]}, "prevResult": %s}\n' \
	"$(cat pm.json)" >portmap.json
cni portmap ADD /run/netns/pm pm portmap.json >portmap.out 2>&1 || { cat portmap.out; fail "CNI portmap ADD failed"; }
echo "--- DNAT rules:"; PATH="$NET_BIN:/bin" iptables -t nat -S | grep -i dnat

make_bundle bundle 'mkdir -p /www && echo "mapped" >/www/index.html && httpd -p 8080 -h /www && echo ready; while true; do sleep 1; done' \
	|| fail "could not make the bundle"
add_net_applets bundle/rootfs
join_netns bundle /run/netns/pm
start_container bundle c1
got=""
for try in 1 2 3 4 5 6 7 8 9 10; do
	got=$(wget -q -T 5 -O - http://10.88.9.1:18080/index.html) && break
	sleep 1
done
echo "--- through the host port: $got"
[ "$got" = mapped ] || fail "the host port 18080 did not reach the container's httpd"
end_container c1 /run/netns/pm
cni portmap DEL /run/netns/pm pm portmap.json
cni_netns_delete pm net.json
