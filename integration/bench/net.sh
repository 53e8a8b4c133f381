# Network: TCP throughput (a 64 MiB download with busybox wget from a
# busybox httpd serving from memory) and ping round-trip time, from the
# host to a container through runvm (veth -> tc redirect -> tap ->
# virtio-net), against the host to a plain network namespace behind the
# same kind of veth on the same CNI bridge. 5 runs each, alternating.

. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
. "$TEST_LIB/net.sh"
. "$TEST_LIB/bench.sh"
runs=5
mib=64

cni_bridge_config net.json 10.88.20.0/24
cni_netns benchvm net.json
cni_netns benchref net.json
vm_ip=$(result_ip benchvm.json) ref_ip=$(result_ip benchref.json)

make_bundle bundle "mkdir -p /dev/shm/www && dd if=/dev/zero of=/dev/shm/www/blob bs=1048576 count=$mib 2>/dev/null && httpd -p 8080 -h /dev/shm/www && echo ready; while true; do sleep 1; done" \
	|| fail "could not make the bundle"
add_net_applets bundle/rootfs
join_netns bundle /run/netns/benchvm
start_container bundle bench
mkdir -p /dev/shm/refwww && dd if=/dev/zero of=/dev/shm/refwww/blob bs=1048576 count=$mib 2>/dev/null
$BUSYBOX nsenter --net=/run/netns/benchref $BUSYBOX httpd -p 8080 -h /dev/shm/refwww || fail "no reference httpd"
wait_reachable "$vm_ip" 30
wait_reachable "$ref_ip" 30

# download ADDRESS: MiB/s of one download, timed with /proc/uptime.
download() {
	read start rest </proc/uptime
	wget -q -O /dev/null "http://$1:8080/blob" || return 1
	read end rest </proc/uptime
	awk -v mib="$mib" -v s="$start" -v e="$end" 'BEGIN { if (e > s) printf "%.1f\n", mib / (e - s); else print "inf" }'
}
# rtt ADDRESS: the average round trip of 20 pings, in ms.
rtt() {
	ping -c 20 -i 0.2 "$1" | sed -n 's|.*min/avg/max = [0-9.]*/\([0-9.]*\)/.*|\1|p'
}

echo "network, host to container ($runs runs each; $mib MiB downloads; 20 pings a run)"
printf "%-8s %14s %14s %12s %12s\n" run "runvm MiB/s" "netns MiB/s" "runvm ms" "netns ms"
run=1
while [ "$run" -le "$runs" ]; do
	vm_rate=$(download "$vm_ip") || fail "download from the container failed"
	ref_rate=$(download "$ref_ip") || fail "download from the namespace failed"
	vm_rtt=$(rtt "$vm_ip") ref_rtt=$(rtt "$ref_ip")
	[ -n "$vm_rtt" ] && [ -n "$ref_rtt" ] || fail "no ping times"
	printf "%-8s %14s %14s %12s %12s\n" "$run" "$vm_rate" "$ref_rate" "$vm_rtt" "$ref_rtt"
	echo "$vm_rate" >>vm.rate; echo "$ref_rate" >>ref.rate
	echo "$vm_rtt" >>vm.rtt; echo "$ref_rtt" >>ref.rtt
	run=$((run + 1))
done
printf "%-8s %14s %14s %12s %12s\n" median "$(median vm.rate)" "$(median ref.rate)" "$(median vm.rtt)" "$(median ref.rtt)"
row net "TCP download, host to container, $mib MiB" "MiB/s" vm.rate "plain netns, same bridge" ref.rate
row net "ping round trip, host to container" ms vm.rtt "plain netns, same bridge" ref.rtt
rv delete --force bench
bridge_delete
