# Two containers on one CNI bridge reach each other by address: a server in
# the first answers a client in the second.
# timeout: 300
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
. "$TEST_LIB/net.sh"
set -o pipefail
root=$PWD/root
rv() { "$RUNVM" --root "$root" "$@"; }

cni_bridge_config net.json 10.88.8.0/24
for n in 1 2; do
	$IP netns add two$n || fail "ip netns add failed"
	cni bridge ADD /run/netns/two$n two$n net.json >result$n.json || { cat result$n.json; fail "CNI ADD $n failed"; }
done
ip1=$(result_ip result1.json)
echo "--- first container's address: $ip1"
make_bundle first 'mkdir -p /www && echo "hello from the first" >/www/a.txt && httpd -p 8080 -h /www && echo ready; while true; do sleep 1; done' \
	|| fail "could not make the bundle"
make_bundle second "wget -q -O - http://$ip1:8080/a.txt && echo fetched; ping -c 1 -W 10 $ip1 && echo pinged" \
	|| fail "could not make the bundle"
for b in first second; do add_net_applets $b/rootfs; done
join_netns first /run/netns/two1
join_netns second /run/netns/two2

rv create --bundle first a </dev/null >a.out 2>a.err || { cat a.err; fail "create of the first failed"; }
rv start a || fail "start of the first failed"
wait_for '^ready$' a.out 90
rv run --bundle second b </dev/null >b.out 2>b.err
status=$?
echo "--- second: exit $status"; cat b.out b.err
grep -q '^hello from the first$' b.out || fail "the second container did not reach the first's server"
grep -q '^pinged$' b.out || fail "the second container could not ping the first"
rv kill a KILL
wait_stopped "$root" a 30
rv delete a || fail "delete failed"
nothing_under "$root"
for n in 1 2; do
	no_runvm_wiring /run/netns/two$n
	cni bridge DEL /run/netns/two$n two$n net.json
	$IP netns delete two$n
done
