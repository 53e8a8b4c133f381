# Big files and big directories on the rootfs share: a 1 GiB sparse file
# written in the container (size, content and holes on both sides, and
# sparse on the host), one the host made read in the container, and a
# directory of 10,000 entries created in the container, listed on both
# sides, and the share's readahead of 1 MiB. Nested under TCG, each FUSE
# request costs milliseconds: creating 10,000 files took 138 s there.
# timeout: 360
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
set -o pipefail
root=$PWD/root
r=bundle/rootfs
make_bundle bundle 'sh /big.sh' || fail "could not make the bundle"
add_vmctl $r || fail "could not put vmctl in the rootfs"

gib=1073741824
# A 4 KiB block to write at two places.
head -c 4096 /dev/urandom >$r/block
block_sum=$(sha256sum <$r/block)
zeros_sum=$(head -c 8388608 /dev/zero | sha256sum)
# The host's own sparse file: 1 GiB, one block at its end.
dd if=$r/block of=$r/hostsparse bs=4096 seek=262143 count=1 2>/dev/null

cat >$r/big.sh <<'EOF'
elapsed() { awk -v s="$1" -v e="$2" 'BEGIN { printf "%.2f s\n", e - s }'; }
dd if=/block of=/sparse bs=4096 seek=131072 count=1 2>/dev/null && dd if=/block of=/sparse bs=4096 seek=262143 count=1 conv=notrunc 2>/dev/null && echo "sparse write: ok"
echo "size: $(stat -c %s /sparse)"
echo "block at 512 MiB: $(dd if=/sparse bs=4096 skip=131072 count=1 2>/dev/null | sha256sum)"
echo "block at 1 GiB - 4 KiB: $(dd if=/sparse bs=4096 skip=262143 count=1 2>/dev/null | sha256sum)"
echo "8 MiB at 256 MiB: $(dd if=/sparse bs=1048576 skip=256 count=8 2>/dev/null | sha256sum)"
echo "SEEK_DATA from 0: $(vmctl seek /sparse data 0 2>&1)"
echo "SEEK_HOLE from 512 MiB: $(vmctl seek /sparse hole 536870912 2>&1)"
echo "host file size: $(stat -c %s /hostsparse)"
echo "host file last block: $(dd if=/hostsparse bs=4096 skip=262143 count=1 2>/dev/null | sha256sum)"
while read -r _ _ dev _ mountpoint _; do [ "$mountpoint" = / ] && root_dev=$dev; done </proc/self/mountinfo
echo "share readahead: $(cat /sys/class/bdi/$root_dev/read_ahead_kb) KiB"
mkdir /many
read s rest </proc/uptime
vmctl files create /many 10000 && echo "created 10000 files"
read e rest </proc/uptime
echo "creating 10000 files took $(elapsed $s $e)"
read s rest </proc/uptime
echo "entries: $(ls /many | wc -l)"
read e rest </proc/uptime
echo "ls of 10000 entries took $(elapsed $s $e)"
echo "names: $(ls /many | sha256sum)"
EOF

start=$(awk '{ print $1 }' /proc/uptime)
"$RUNVM" --root "$root" run --bundle bundle big 2>err </dev/null | tee out
status=$?
end=$(awk '{ print $1 }' /proc/uptime)
echo "--- run exit $status after $(awk -v s="$start" -v e="$end" 'BEGIN { print e - s }') s"; cat err
[ "$status" = 0 ] || fail "the container's script failed"

grep -qx "sparse write: ok" out || fail "writing blocks at 512 MiB and 1 GiB - 4 KiB failed in the container"
[ "$(stat -c %s $r/sparse)" = $gib ] || fail "the host sees a size of $(stat -c %s $r/sparse), not 1 GiB"
grep -qx "size: $gib" out || fail "the container does not see a size of 1 GiB"
allocated=$(($(stat -c '%b * %B' $r/sparse)))
echo "the host file has $allocated bytes allocated"
[ "$allocated" -lt 1048576 ] || fail "the host file is not sparse: $allocated bytes allocated"
[ "$(dd if=$r/sparse bs=4096 skip=131072 count=1 2>/dev/null | sha256sum)" = "$block_sum" ] || fail "the host does not have the block written at 512 MiB"
[ "$(dd if=$r/sparse bs=4096 skip=262143 count=1 2>/dev/null | sha256sum)" = "$block_sum" ] || fail "the host does not have the block written at 1 GiB - 4 KiB"
grep -qx "block at 512 MiB: $block_sum" out || fail "the container does not read back its block at 512 MiB"
grep -qx "block at 1 GiB - 4 KiB: $block_sum" out || fail "the container does not read back its block at 1 GiB - 4 KiB"
grep -qx "8 MiB at 256 MiB: $zeros_sum" out || fail "a hole does not read as zeros in the container"
grep -qx "SEEK_DATA from 0: 536870912" out || fail "SEEK_DATA in the container does not find the first block at 512 MiB"
grep -qx "SEEK_HOLE from 512 MiB: 536875008" out || fail "SEEK_HOLE in the container does not find the hole after the first block"
grep -qx "host file size: $gib" out || fail "the container does not see the host's sparse file as 1 GiB"
grep -qx "host file last block: $block_sum" out || fail "the container does not read the host's block at 1 GiB - 4 KiB"
# As large as one FUSE request (1 MiB), not the kernel's 128 KiB.
grep -qx "share readahead: 1024 KiB" out || fail "the share's readahead is not 1 MiB in the container"

grep -qx "created 10000 files" out || fail "creating 10,000 files failed in the container"
grep -qx "entries: 10000" out || fail "the container does not list 10,000 entries"
[ "$(ls $r/many | wc -l)" = 10000 ] || fail "the host lists $(ls $r/many | wc -l) entries, not 10,000"
grep -qx "names: $(ls $r/many | sha256sum)" out || fail "the container's list of names differs from the host's"
nothing_under "$root"
