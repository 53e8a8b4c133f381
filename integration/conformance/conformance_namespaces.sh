# linux.namespaces, from the OCI runtime spec: "For each namespace type
# listed without a path the runtime MUST create a new namespace"; "If a
# namespace type is not specified in the namespaces array, the container
# MUST inherit the runtime namespace of that type". The container has no
# PID namespace of its own, so its /proc/1 is the runtime environment's
# init (the host's under runc, the guest agent under runvm): its
# namespaces are the runtime's. Also process.rlimits (`ulimit -n`).
#
# The network namespace is left out of the comparison: under runvm the
# VM's network is the container's (the spec's new namespace is the one the
# monitor lives in on the host); network_* tests cover what it holds.
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
. "$TEST_LIB/conformance.sh"
conformance_case "$1"
trap 'rt delete --force ns1 >/dev/null 2>&1' EXIT

spec_bundle bundle 'for ns in mnt uts ipc cgroup pid user; do echo "$ns $(readlink /proc/self/ns/$ns) $(readlink /proc/1/ns/$ns)"; done; echo "nofile $(ulimit -n) $(ulimit -Hn)"' \
	'"namespaces": [{"type": "mount"}, {"type": "uts"}, {"type": "ipc"}, {"type": "cgroup"}, {"type": "network"}]' \
	'' ', "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1234, "hard": 2345}]' \
	|| fail "could not make the bundle"
run_container ns1 bundle

for ns in mnt uts ipc cgroup; do
	line=$(grep "^$ns " ns1.out) || fail "no $ns line"
	set -- $line
	[ -n "$2" ] && [ -n "$3" ] || fail "$ns: could not read both namespaces: $line"
	[ "$2" != "$3" ] || fail "$ns is listed: the container needs a new one, not the runtime's $3"
done
for ns in pid user; do
	line=$(grep "^$ns " ns1.out) || fail "no $ns line"
	set -- $line
	[ -n "$2" ] && [ "$2" = "$3" ] || fail "$ns is not listed: the container should inherit the runtime's, not $line"
done
grep -qx "nofile 1234 2345" ns1.out || fail "process.rlimits RLIMIT_NOFILE 1234/2345 not applied"
echo "ok"
