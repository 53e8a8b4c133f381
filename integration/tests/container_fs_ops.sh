# File operations on the rootfs share, seen from both sides while the
# container runs: chown and chmod, fsync and fdatasync, extended
# attributes, and a shared mmap.
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
root=$PWD/root
r=bundle/rootfs
make_bundle bundle 'sh /ops.sh' || fail "could not make the bundle"
add_vmctl $r || fail "could not put vmctl in the rootfs"
trap '"$RUNVM" --root "$root" delete --force ops >/dev/null 2>&1' EXIT

# What the host puts in the rootfs before the container starts.
echo hostmade >$r/hostmade && chown 4321:8765 $r/hostmade && chmod 604 $r/hostmade
dd if=/dev/urandom of=$r/payload bs=4096 count=16 2>/dev/null
: >$r/x
echo hostx >$r/hostx
"$VMCTL" setxattr $r/hostx security.runvm-host from-host || fail "the host cannot set a security.* xattr"
# Whether the host file system stores user.* xattrs (tmpfs before Linux
# 6.6 does not): the container must get what the host gives, either way.
if "$VMCTL" setxattr $r/hostx user.runvm-host from-host; then
	host_user_xattrs=yes
else
	host_user_xattrs=no
fi
echo "the host file system stores user.* xattrs: $host_user_xattrs"
dd if=/dev/zero of=$r/mapped bs=4096 count=2 2>/dev/null
dd if=/dev/zero of=$r/hostmapped bs=4096 count=1 2>/dev/null
printf host-wrote | dd of=$r/hostmapped bs=1 seek=100 conv=notrunc 2>/dev/null

cat >$r/ops.sh <<'EOF'
echo data >/owned && chown 1234:5678 /owned && chmod 640 /owned && echo "owned: $(stat -c '%u:%g %a' /owned)"
echo "hostmade before: $(stat -c '%u:%g %a' /hostmade)"
chown 42:43 /hostmade && chmod 660 /hostmade && echo "hostmade after: $(stat -c '%u:%g %a' /hostmade)"
dd if=/payload of=/synced bs=4096 conv=fsync 2>/dev/null && echo "dd conv=fsync: ok"
echo line >/synced2 && sync /synced2 && sync -d /synced2 && echo "sync and sync -d: ok"
vmctl setxattr /x security.runvm from-container && echo "setxattr security: ok"
echo "getxattr security: $(vmctl getxattr /x security.runvm 2>&1)"
echo "getxattr host security: $(vmctl getxattr /hostx security.runvm-host 2>&1)"
echo "setxattr user: $(vmctl setxattr /x user.runvm from-container 2>&1 && echo ok)"
echo "getxattr host user: $(vmctl getxattr /hostx user.runvm-host 2>&1)"
vmctl mmap-write /mapped 4100 through-mmap && echo "mmap-write: ok"
echo "read after mmap-write: $(dd if=/mapped bs=1 skip=4100 count=12 2>/dev/null)"
echo "mmap-read: $(vmctl mmap-read /hostmapped 100 10 2>&1)"
echo phase-done
exec sleep 1000
EOF

"$RUNVM" --root "$root" run -d --bundle bundle ops >out 2>err </dev/null || { cat err; fail "run -d failed"; }
wait_for phase-done out 90
echo "--- the container's output:"; cat out

# Checked while the container still runs: nothing waits for the VM to end.
[ "$(stat -c '%u:%g %a' $r/owned)" = "1234:5678 640" ] || fail "chown/chmod in the container: the host sees $(stat -c '%u:%g %a' $r/owned)"
grep -qx "owned: 1234:5678 640" out || fail "chown/chmod in the container: the container does not see 1234:5678 640"
grep -qx "hostmade before: 4321:8765 604" out || fail "the container does not see the owner and mode the host gave /hostmade"
[ "$(stat -c '%u:%g %a' $r/hostmade)" = "42:43 660" ] || fail "chown/chmod of a host file: the host sees $(stat -c '%u:%g %a' $r/hostmade)"
grep -qx "hostmade after: 42:43 660" out || fail "chown/chmod of a host file: the container does not see 42:43 660"

grep -qx "dd conv=fsync: ok" out || fail "dd conv=fsync (write + fsync) failed in the container"
cmp $r/payload $r/synced || fail "the data written and fsynced in the container is not on the host"
grep -qx "sync and sync -d: ok" out || fail "fsync or fdatasync of a file failed in the container"
[ "$(cat $r/synced2)" = line ] || fail "the fsynced line is not on the host"

grep -qx "setxattr security: ok" out || fail "setting a security.* xattr failed in the container"
[ "$("$VMCTL" getxattr $r/x security.runvm)" = from-container ] || fail "the security.* xattr set in the container is not on the host"
grep -qx "getxattr security: from-container" out || fail "the container does not read back its security.* xattr"
grep -qx "getxattr host security: from-host" out || fail "the container does not see the security.* xattr the host set"
if [ "$host_user_xattrs" = yes ]; then
	grep -qx "setxattr user: ok" out || fail "setting a user.* xattr failed in the container"
	[ "$("$VMCTL" getxattr $r/x user.runvm)" = from-container ] || fail "the user.* xattr set in the container is not on the host"
	grep -qx "getxattr host user: from-host" out || fail "the container does not see the user.* xattr the host set"
else
	grep -q "^setxattr user: .*(os error 95)" out || fail "setting a user.* xattr the host cannot store should be EOPNOTSUPP in the container too"
	grep -q "^getxattr host user: .*(os error 95)" out || fail "reading a user.* xattr the host cannot store should be EOPNOTSUPP in the container too"
fi

grep -qx "mmap-write: ok" out || fail "writing through a shared mmap (with msync) failed in the container"
[ "$(dd if=$r/mapped bs=1 skip=4100 count=12 2>/dev/null)" = through-mmap ] || fail "what the container wrote through mmap is not in the host file"
grep -qx "read after mmap-write: through-mmap" out || fail "read(2) in the container does not see its own mmap write"
grep -qx "mmap-read: host-wrote" out || fail "the container does not see the host's data through mmap"

"$RUNVM" --root "$root" delete --force ops || fail "delete --force failed"
trap - EXIT
nothing_under "$root"
