# hostname, from the OCI runtime spec: "hostname (string, OPTIONAL)
# specifies the container's hostname as seen by processes running inside
# the container" (in its own UTS namespace). An empty hostname sets
# nothing: the container's new UTS namespace keeps the hostname it
# inherits from the runtime's, as runc does. Neither container has a PID
# namespace, so /proc/1 is the runtime environment's init, whose UTS
# namespace nsenter reads.
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
. "$TEST_LIB/conformance.sh"
conformance_case "$1"
trap 'rt delete --force named >/dev/null 2>&1; rt delete --force empty >/dev/null 2>&1' EXIT
namespaces='"namespaces": [{"type": "mount"}, {"type": "uts"}, {"type": "network"}]'
show='echo "own $(hostname) $(readlink /proc/self/ns/uts)"; echo "initial $(nsenter -t 1 -u hostname) $(readlink /proc/1/ns/uts)"'

spec_bundle named "$show" "$namespaces" '' '' ', "hostname": "oci-conformance"' || fail "could not make the bundle"
run_container named named
grep -q "^own oci-conformance " named.out || fail "the container's hostname should be oci-conformance"
grep -q "^initial oci-conformance " named.out && fail "the hostname was set outside the container's UTS namespace"

spec_bundle empty "$show" "$namespaces" '' '' ', "hostname": ""' || fail "could not make the bundle"
run_container empty empty
own=$(sed -n 's/^own \([^ ]*\) .*/\1/p' empty.out)
initial=$(sed -n 's/^initial \([^ ]*\) .*/\1/p' empty.out)
[ -n "$initial" ] && [ "$own" = "$initial" ] || fail "with an empty hostname the container should keep the inherited one ($initial), not $own"
[ "$(sed -n 's/^own [^ ]* //p' empty.out)" != "$(sed -n 's/^initial [^ ]* //p' empty.out)" ] \
	|| fail "the container should still have a UTS namespace of its own"
echo "ok"
