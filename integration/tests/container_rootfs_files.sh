# Files made in the container appear in the bundle's rootfs with the
# owner and mode given in the guest; rename, hard link, symlink,
# truncate and a directory listing behave as on a local filesystem.
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
root=$PWD/root
make_bundle bundle 'set -e; echo data >/made; chown 1234:5678 /made; chmod 640 /made; mkdir /dir; echo x >/dir/a; mv /dir/a /dir/b; ln /dir/b /dir/hard; ln -s /dir/b /dir/soft; echo 0123456789 >/trunc; dd if=/dev/null of=/trunc bs=1 seek=4 2>/dev/null; i=0; while [ $i -lt 200 ]; do touch /dir/f$i; i=$((i+1)); done; ls /dir | wc -l; sync' || fail "could not make the bundle"

"$RUNVM" --root "$root" run --bundle bundle f1 >out 2>err </dev/null
status=$?
echo "--- run exit $status"; cat out; cat err
[ "$status" = 0 ] || fail "the container's script failed"
r=bundle/rootfs
[ "$(cat $r/made)" = data ] || fail "/made should hold 'data'"
[ "$(stat -c '%u:%g %a' $r/made)" = "1234:5678 640" ] || fail "/made owner/mode: $(stat -c '%u:%g %a' $r/made)"
[ -e $r/dir/a ] && fail "rename left the old name"
[ "$(cat $r/dir/b)" = x ] || fail "renamed file lost its content"
[ "$(stat -c %h $r/dir/b)" = 2 ] || fail "hard link count should be 2"
[ "$(readlink $r/dir/soft)" = /dir/b ] || fail "symlink target should be /dir/b"
[ "$(cat $r/trunc)" = 0123 ] || fail "truncate to 4 bytes: '$(cat $r/trunc)'"
grep -q "^203$" out || fail "the container should list 203 entries in /dir"
