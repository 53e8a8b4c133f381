# linux.maskedPaths and linux.readonlyPaths, from the OCI runtime spec:
# masked paths are masked "so that they cannot be read"; read-only paths
# are "set read-only inside the container". Paths in the rootfs of each
# kind: a file, a directory, a character device node (a copy of
# /dev/zero's, which reads zeros unmasked), and a path that does not
# exist (skipped, not an error).
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
. "$TEST_LIB/conformance.sh"
conformance_case "$1"
trap 'rt delete --force masked >/dev/null 2>&1' EXIT

spec_bundle bundle 'sh /check.sh' \
	'"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "network"}],
	"maskedPaths": ["/secret-file", "/secret-dir", "/secret-zero", "/no-such-path"],
	"readonlyPaths": ["/frozen", "/no-such-path-either"]' \
	|| fail "could not make the bundle"
cat >bundle/rootfs/check.sh <<'CHECK'
echo "file [$(cat /secret-file)]"
echo "dir [$(ls -A /secret-dir)]"
(touch /secret-dir/new) 2>/dev/null && echo "dir writable"
echo "device bytes $(head -c 4 /secret-zero | wc -c)"
echo "readonly [$(cat /frozen/kept)]"
(touch /frozen/new) 2>/dev/null && echo "readonly writable"
(echo changed >/frozen/kept) 2>/dev/null && echo "readonly file writable"
echo "control bytes $(head -c 4 /open-zero | wc -c)"
echo done
CHECK
echo "secret contents" >bundle/rootfs/secret-file
mkdir -p bundle/rootfs/secret-dir bundle/rootfs/frozen
echo "hidden" >bundle/rootfs/secret-dir/inside
echo "kept" >bundle/rootfs/frozen/kept
mknod bundle/rootfs/secret-zero c 1 5 && mknod bundle/rootfs/open-zero c 1 5 || fail "mknod failed"

run_container masked bundle
grep -qx "done" masked.out || fail "the container did not finish its checks"
grep -qx "control bytes 4" masked.out || fail "the unmasked device node should read zeros (the check is void otherwise)"
grep -qx "file \[\]" masked.out || fail "a masked file should read empty"
grep -qx "dir \[\]" masked.out || fail "a masked directory should look empty"
grep -qx "dir writable" masked.out && fail "a masked directory should not be writable"
grep -qx "device bytes 0" masked.out || fail "a masked device node should not give its device's data"
grep -qx "readonly \[kept\]" masked.out || fail "a read-only path keeps its contents"
grep -q "writable" masked.out && fail "a read-only path should refuse writes"
[ "$(cat bundle/rootfs/frozen/kept)" = kept ] || fail "the read-only file changed"
echo "ok"
