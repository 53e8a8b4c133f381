# A user namespace, from the OCI runtime spec: with "user" in
# linux.namespaces the container gets a new user namespace whose maps are
# linux.uidMappings and linux.gidMappings. The image belongs to the mapped
# root (uid and gid 100000 outside), as images for a user namespace do.
# What the container sees: its own maps in /proc/self/uid_map and
# gid_map, itself as uid 0, the image's files as its root's; what it
# creates belongs to uid 100000 outside.
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
. "$TEST_LIB/conformance.sh"
conformance_case "$1"
trap 'rt delete --force userns >/dev/null 2>&1' EXIT

spec_bundle bundle 'echo "uid $(id -u) gid $(id -g)"; echo "uid_map $(cat /proc/self/uid_map)"; echo "gid_map $(cat /proc/self/gid_map)"; echo "owner $(stat -c %u:%g /bin/busybox)"; touch /tmp/made && echo made' \
	'"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "network"}, {"type": "user"}],
	"uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
	"gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]' \
	|| fail "could not make the bundle"
mkdir -p bundle/rootfs/proc bundle/rootfs/dev bundle/rootfs/sys && chown -R 100000:100000 bundle/rootfs \
	|| fail "could not give the image to the mapped root"

run_container userns bundle
grep -qx "uid 0 gid 0" userns.out || fail "the container's process should be root in its user namespace"
[ "$(sed -n 's/^uid_map //p' userns.out | tr -s ' ' | sed 's/^ //')" = "0 100000 65536" ] \
	|| fail "/proc/self/uid_map should be linux.uidMappings"
[ "$(sed -n 's/^gid_map //p' userns.out | tr -s ' ' | sed 's/^ //')" = "0 100000 65536" ] \
	|| fail "/proc/self/gid_map should be linux.gidMappings"
grep -qx "owner 0:0" userns.out || fail "the image's files (100000 outside) should belong to the container's root"
grep -qx made userns.out || fail "the container's root could not write its own image"
[ "$(stat -c %u:%g bundle/rootfs/tmp/made)" = "100000:100000" ] \
	|| fail "what the container's root makes should belong to uid 100000 outside, not $(stat -c %u:%g bundle/rootfs/tmp/made)"
echo "ok"
