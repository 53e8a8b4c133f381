# A hostile root in the container against the rootfs share: symlinks to /
# and to host paths, `..` climbing (relative paths, raw openat(2) of
# "..", and from a second mount of the share itself), device nodes,
# FIFOs, setuid bits and trusted.* xattrs. Everything must resolve inside
# the container, and two canary files outside the share (next to the
# rootfs, and an absolute host path) must be neither read nor changed:
# same content, mode, mtime and atime.
#
# The guest kernel resolves `..` and symlinks itself, so no request with
# a ".." name reaches the FUSE server from a process; such requests from a
# hostile guest kernel are unit-tested (virtio/src/fs/secure.rs).
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
root=$PWD/root
r=bundle/rootfs
make_bundle bundle 'sh /hostile.sh' || fail "could not make the bundle"
add_vmctl $r || fail "could not put vmctl in the rootfs"
fifo_reader=
trap '"$RUNVM" --root "$root" delete --force evil >/dev/null 2>&1; [ -n "$fifo_reader" ] && kill $fifo_reader 2>/dev/null' EXIT

# canary FILE: a secret only the host may read, with an atime older than
# its mtime, so any read updates it (relatime, the default, does then).
canary() {
	echo "host-secret-$$" >"$1" && chmod 600 "$1" \
		&& touch -m -d '2001-01-01 00:00:00' "$1" && touch -a -d '2000-01-01 00:00:00' "$1" \
		&& stat -c '%a %s %Y %X' "$1" >"$1.before"
}
canary "$PWD/canary" || fail "could not make the canary"
canary bundle/canary || fail "could not make the canary next to the rootfs"
echo "canaries: $(cat "$PWD/canary.before") (mode, size, mtime, atime)"

# The container's own files where an escape would find the canaries.
mkdir -p "$r$PWD" && echo container-decoy >"$r$PWD/canary" && echo container-decoy >$r/canary \
	|| fail "could not write the decoys"
echo container-root >$r/container-root-marker
# What a hostile image may hold: links out of the rootfs, a host device
# node (/dev/kmsg, 1:11), a FIFO.
ln -s "$PWD/canary" $r/abslink
ln -s ../../../../../../../canary $r/rellink
mknod $r/kmsgnode c 1 11 || fail "could not make a device node in the rootfs"
busybox mkfifo $r/hostfifo || fail "could not make a FIFO in the rootfs"
# A line in the host's kernel log the container must not see.
host_marker="runvm-e2e-host-kmsg-$$"
echo "$host_marker" >/dev/kmsg || fail "could not write to the host's /dev/kmsg"
# A host process waiting on the FIFO: only the host's writer may reach it.
cat $r/hostfifo >hostfifo.out &
fifo_reader=$!

canary_path=$PWD/canary
components=$(echo "$PWD" | tr / ' ')
cat >$r/hostile.sh <<EOF
ln -s / /evil && echo "evil: \$(readlink /evil)"
echo "evil lists: \$(ls /evil/ | tr '\n' ' ')"
echo "root lists: \$(ls / | tr '\n' ' ')"
echo "evil marker: \$(cat /evil/container-root-marker 2>&1)"
echo "evil canary: \$(cat /evil$canary_path 2>&1)"
ln -s $canary_path /clink
echo "clink: \$(cat /clink 2>&1)"
echo "abslink: \$(cat /abslink 2>&1)"
echo "rellink: \$(cat /rellink 2>&1)"
cd / && cd ../../../../.. && echo "cd up: \$(pwd) \$(cat ./container-root-marker 2>&1)"
echo "relative up: \$(cat ../../../../../canary 2>&1)"
echo "walk up: \$(vmctl walk / .. .. .. .. .. 2>&1 | tr '\n' ' ')"
echo "walk to the canary: \$(vmctl walk / .. .. .. $components canary 2>&1 | tr '\n' ' ')"
mkdir /share && mount -t virtiofs runvm /share && echo "share lists: \$(ls /share | tr '\n' ' ')"
echo "share up: \$(vmctl walk /share .. .. 2>&1 | tr '\n' ' ')"
echo "share up canary: \$(cat /share/../../canary 2>&1)"
mknod /blk b 7 0 && echo "mknod block: made"
mknod /mem c 1 1 && echo "mknod char: made"
busybox timeout 3 cat /kmsgnode >/kmsg.out 2>&1
echo "kmsg lines: \$(wc -l </kmsg.out)"
grep -q "$host_marker" /kmsg.out && echo "kmsg: the host's marker"
grep -q "Linux version" /kmsg.out && echo "kmsg: the guest's log"
(echo from-container >/hostfifo &) ; echo "fifo: \$(cat /hostfifo)"
busybox mkfifo /cfifo && echo "mkfifo: ok"
cp /bin/busybox /suid && chmod 4755 /suid && echo "suid: \$(stat -c %a /suid)"
: >/x
vmctl setxattr /x trusted.runvm evil && echo "trusted xattr: set"
echo hostile-done
EOF

"$RUNVM" --root "$root" --log "$PWD/monitor.log" run --bundle bundle evil >out 2>err </dev/null
status=$?
echo "--- run exit $status"; cat out; cat err
[ "$status" = 0 ] || { cat monitor.log; fail "the container's script failed"; }
grep -qx hostile-done out || fail "the container's script did not finish"

grep -qx "evil: /" out || fail "the container could not make evil -> /"
[ "$(readlink $r/evil)" = / ] || fail "the host should see evil as a symlink to /"
root_list=$(grep "^root lists: " out | sed 's/^root lists: //')
grep -qx "evil lists: $root_list" out || fail "evil -> / does not list the container's own /"
echo "$root_list" | grep -q container-root-marker || fail "the container's / does not hold its marker"
grep -qx "evil marker: container-root" out || fail "evil -> / does not lead to the container's own files"
grep -qx "evil canary: container-decoy" out || fail "evil -> / followed by the canary's host path does not stay in the container"
grep -qx "clink: container-decoy" out || fail "a symlink made in the container to the canary's host path does not stay in the container"
grep -qx "abslink: container-decoy" out || fail "the image's symlink to the canary's host path does not stay in the container"
grep -qx "rellink: container-decoy" out || fail "the image's ../../.. symlink climbs out of the container's /"
grep -qx "cd up: / container-root" out || fail "cd ../../.. from / leaves the container's /"
grep -qx "relative up: container-decoy" out || fail "cat ../../../canary from / leaves the container's /"
grep -qx "walk up: at / " out || fail "openat(\"..\") from / climbs above the container's /"
grep -qx "walk to the canary: at $canary_path container-decoy " out || fail "openat(\"..\") then the canary's path does not stay in the container"
grep -qx "share lists: mounts rootfs " out || fail "a second mount of the share should show only its mounts and rootfs"
grep -qx "share up: at / " out || fail "openat(\"..\") from the share's root leaves the container's /"
grep -qx "share up canary: container-decoy" out || fail "../.. from the share's root leaves the container's /"

grep -q "^mknod block: made" out && fail "the container made a block device node on the share"
[ -e $r/blk ] && fail "a block device node appeared in the host's rootfs"
grep -q "^mknod char: made" out && fail "the container made a char device node (/dev/mem) on the share"
[ -e $r/mem ] && fail "a char device node appeared in the host's rootfs"
grep -q "^kmsg: the host's marker" out && fail "the image's device node opened the host's /dev/kmsg"
grep -qx "kmsg: the guest's log" out || fail "the image's /dev/kmsg node should open the guest's own device"

grep -qx "fifo: from-container" out || fail "the image's FIFO does not work inside the container"
[ -s hostfifo.out ] && fail "the container's write reached a host process through the FIFO: $(cat hostfifo.out)"
echo from-host >$r/hostfifo
wait $fifo_reader
fifo_reader=
[ "$(cat hostfifo.out)" = from-host ] || fail "the host's FIFO reader got '$(cat hostfifo.out)', not only the host's write"
grep -qx "mkfifo: ok" out || fail "mkfifo failed in the container"
[ -p $r/cfifo ] || fail "the container's FIFO is not a FIFO on the host"

grep -qx "suid: 755" out || fail "chmod 4755 in the container should leave 755, not $(grep '^suid' out)"
[ "$(stat -c %a $r/suid)" = 755 ] || fail "the host file has mode $(stat -c %a $r/suid): the setuid bit got through"
grep -q "^trusted xattr: set" out && fail "the container set a trusted.* xattr on the host file"
"$VMCTL" getxattr $r/x trusted.runvm 2>&1 | grep -q "os error 61" || fail "a trusted.* xattr reached the host file"

for c in "$PWD/canary" bundle/canary; do
	# stat first: reading the content updates the atime.
	[ "$(stat -c '%a %s %Y %X' "$c")" = "$(cat "$c.before")" ] \
		|| fail "$c was touched: $(stat -c '%a %s %Y %X' "$c"), was $(cat "$c.before") (mode, size, mtime, atime)"
	[ "$(cat "$c")" = "host-secret-$$" ] || fail "$c changed: $(cat "$c")"
done
# That read must show in the atime, or the atime check proves nothing.
[ "$(stat -c %X "$PWD/canary")" != "$(awk '{ print $4 }' "$PWD/canary.before")" ] \
	|| fail "reading the canary does not change its atime here: the atime check proves nothing"
nothing_under "$root"
