# Helpers for the network tests: `. "$TEST_LIB/net.sh"` (after guest.sh and
# bundle.sh). The tools are the host's (iproute2, the CNI plugins,
# iptables), carried into the test host at their paths; busybox runs its
# own applets first, so they are called by absolute path.

IP=/usr/bin/ip
TC=/usr/sbin/tc
CNI_PATH=/usr/lib/cni
# iptables under the name the CNI plugins look up on PATH.
NET_BIN=$PWD/net-bin
mkdir -p "$NET_BIN"
for name in iptables ip6tables iptables-save iptables-restore ip6tables-save ip6tables-restore; do
	ln -sf /usr/sbin/xtables-nft-multi "$NET_BIN/$name"
done

# host_network: the test host's own interfaces, addresses and routes, one
# line each, without counters: what must be the same before and after.
host_network() {
	$IP -o link show | sed 's/^[0-9]*: //; s/ *link\/.*//'
	$IP -o addr show | sed 's/^[0-9]*: //; s/ *valid_lft.*//'
	$IP route show
	$IP -6 route show
}

# add_net_applets ROOTFS: the busybox applets the network tests run in a
# container.
add_net_applets() {
	for applet in ip ping ping6 nc httpd wget ifconfig route sed cut tr; do
		ln -sf busybox "$1/bin/$applet"
	done
}

# join_netns BUNDLE PATH: the bundle's network namespace is the one at PATH.
join_netns() {
	sed -i "s|{\"type\": \"network\"}|{\"type\": \"network\", \"path\": \"$2\"}|" "$1/config.json"
	grep -q "\"path\": \"$2\"" "$1/config.json" || fail "could not name the netns in $1"
}

# cni NAME COMMAND NETNS_PATH CONTAINER_ID CONFIG_FILE: runs the CNI plugin
# NAME as a runtime does, its result on stdout.
cni() {
	CNI_COMMAND=$2 CNI_NETNS=$3 CNI_CONTAINERID=$4 CNI_IFNAME=eth0 CNI_PATH=$CNI_PATH \
		PATH="$NET_BIN:/bin" "$CNI_PATH/$1" <"$5"
}

# cni_bridge_config FILE SUBNET [MTU] [EXTRA_RANGE_JSON]: a CNI bridge +
# host-local config on the bridge cni-runvm0, the bridge the gateway.
cni_bridge_config() {
	ranges="[{\"subnet\": \"$2\"}]"
	routes='{"dst": "0.0.0.0/0"}'
	if [ -n "${4:-}" ]; then
		ranges="$ranges, $4"
		routes="$routes, {\"dst\": \"::/0\"}"
	fi
	cat >"$1" <<JSON
{"cniVersion": "1.0.0", "name": "runvm-test", "type": "bridge",
 "bridge": "cni-runvm0", "isGateway": true, "ipMasq": false, "mtu": ${3:-1500},
 "ipam": {"type": "host-local", "dataDir": "$PWD/cni-ipam",
          "ranges": [$ranges],
          "routes": [$routes]}}
JSON
}

# result_ip RESULT_FILE [4|6]: the first IPv4 (or IPv6) address in a CNI
# result, without its prefix length.
result_ip() {
	if [ "${2:-4}" = 6 ]; then
		tr -d ' \n' <"$1" | grep -o '"address":"[0-9a-f:]*:[0-9a-f:]*/' | head -1 | cut -d'"' -f4 | tr -d /
	else
		tr -d ' \n' <"$1" | grep -o '"address":"[0-9.]*/' | head -1 | cut -d'"' -f4 | tr -d /
	fi
}

# no_runvm_wiring NETNS_PATH: fails if the namespace still holds a runvm
# tap or an ingress qdisc.
no_runvm_wiring() {
	left=$($BUSYBOX nsenter --net="$1" $IP -o link show 2>&1 | grep -i tap)
	[ -z "$left" ] || fail "a tap is left in $1: $left"
	qdiscs=$($BUSYBOX nsenter --net="$1" $TC qdisc show 2>&1 | grep ingress)
	[ -z "$qdiscs" ] || fail "an ingress qdisc is left in $1: $qdiscs"
}

# wait_reachable ADDRESS SECONDS: pings ADDRESS until it answers.
wait_reachable() {
	tries=$2
	while [ "$tries" -gt 0 ]; do
		ping -c 1 -W 1 "$1" >/dev/null 2>&1 && return 0
		tries=$((tries - 1))
	done
	fail "$1 does not answer pings after $2 s"
}

# The tests' own runvm state, and runvm on it.
set -o pipefail
root=$PWD/root
rv() { "$RUNVM" --root "$root" "$@"; }

# cni_netns NAME CONFIG: a namespace /run/netns/NAME set up by the CNI
# bridge plugin from CONFIG, as podman and Kubernetes do; the CNI result
# is in NAME.json.
cni_netns() {
	$IP netns add "$1" || fail "ip netns add $1 failed"
	cni bridge ADD "/run/netns/$1" "$1" "$2" >"$1.json" || { cat "$1.json"; fail "CNI ADD $1 failed"; }
}

# cni_netns_delete NAME CONFIG: CNI DEL, then the namespace goes.
cni_netns_delete() {
	cni bridge DEL "/run/netns/$1" "$1" "$2" || fail "CNI DEL $1 failed"
	$IP netns delete "$1"
}

# start_container BUNDLE ID: create and start ID, whose output goes to
# ID.out, and wait for its `ready` line.
start_container() {
	rv create --bundle "$1" "$2" </dev/null >"$2.out" 2>"$2.err" || { cat "$2.err"; fail "create of $2 failed"; }
	rv start "$2" || fail "start of $2 failed"
	wait_for '^ready$' "$2.out" 90
}

# end_container ID NETNS_PATH: kills and deletes ID; nothing of runvm's is
# left under its root or in the namespace at NETNS_PATH.
end_container() {
	rv kill "$1" KILL
	wait_stopped "$root" "$1" 30
	rv delete "$1" || fail "delete of $1 failed"
	nothing_under "$root"
	no_runvm_wiring "$2"
}
