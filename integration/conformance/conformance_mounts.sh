# mounts, from the OCI runtime spec: "The runtime MUST mount entries in
# the listed order"; /proc is the container's own (its PID namespace);
# bind mounts take their propagation options (shared, private,
# unbindable). What
# the container itself sees in /proc/self/mountinfo: the spec's mount
# points in the spec's order, a bind's root named after its source, and
# a file bound over a /proc entry after /proc (what lxcfs does) still in
# place.
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
. "$TEST_LIB/conformance.sh"
conformance_case "$1"
trap 'rt delete --force mounts >/dev/null 2>&1' EXIT

binds='
    ,{"destination": "/mnt/shared", "type": "bind", "source": "src-shared", "options": ["rbind", "shared"]}
    ,{"destination": "/mnt/private", "type": "bind", "source": "src-private", "options": ["rbind", "private"]}
    ,{"destination": "/mnt/unbindable", "type": "bind", "source": "src-unbindable", "options": ["rbind", "unbindable"]}
    ,{"destination": "/proc/uptime", "type": "bind", "source": "fake-uptime", "options": ["bind", "ro"]}
    ,{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}'
spec_bundle bundle 'echo "pid $$"; cat /proc/self/mountinfo; echo "uptime $(cat /proc/uptime)"' \
	'"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "network"}]' \
	"$binds" || fail "could not make the bundle"
mkdir bundle/src-shared bundle/src-private bundle/src-unbindable
echo "4242.00 1.00" >bundle/fake-uptime

run_container mounts bundle
grep -qx "pid 1" mounts.out || fail "the container's process should be PID 1 of its PID namespace"
grep -qx "uptime 4242.00 1.00" mounts.out || fail "the bind over /proc/uptime, after /proc, should be in place"

# Each line: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - ...
grep -E '^[0-9]+ [0-9]+ ' mounts.out >mountinfo
order=$(awk '{ print $5 }' mountinfo | grep -xE '/proc|/dev|/dev/pts|/dev/shm|/dev/mqueue|/sys|/mnt/shared|/mnt/private|/mnt/unbindable|/proc/uptime|/tmp' | tr '\n' ' ')
echo "order: $order"
[ "$order" = "/proc /dev /dev/pts /dev/shm /dev/mqueue /sys /mnt/shared /mnt/private /mnt/unbindable /proc/uptime /tmp " ] \
	|| fail "the spec's mounts should appear once each, in the spec's order"

# optional fields: between the options (field 6) and the "-" separator.
optional() {
	awk -v point="$1" '$5 == point { for (i = 7; $i != "-"; i++) printf "%s ", $i; print "" }' mountinfo
}
echo "/mnt/shared: $(optional /mnt/shared)"
optional /mnt/shared | grep -q "shared:[0-9]" || fail "a shared bind should be shared"
echo "/mnt/private: $(optional /mnt/private)"
[ -z "$(optional /mnt/private | tr -d ' ')" ] || fail "a private bind should have no peers and no master"
echo "/mnt/unbindable: $(optional /mnt/unbindable)"
optional /mnt/unbindable | grep -qw "unbindable" || fail "an unbindable bind should be unbindable"

for name in shared private unbindable; do
	root=$(awk -v point="/mnt/$name" '$5 == point { print $4 }' mountinfo)
	echo "/mnt/$name from $root"
	case $root in
	*/src-$name) ;;
	*) fail "the bind of src-$name should show its source's name as its root, not $root" ;;
	esac
done
echo "ok"
