# The virtio-rng device: the guest's hw_random core uses it, and a
# container given /dev/hwrng (linux.devices, as `docker run --device`
# does) reads host entropy from it: 32 bytes that differ between reads.
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
root=$PWD/root
make_bundle bundle 'echo "current: $(cat /sys/class/misc/hw_random/rng_current)"; for i in 1 2; do echo "read: $(dd if=/dev/hwrng bs=32 count=1 2>/dev/null | busybox od -An -tx1 | tr -d " \n")"; done' \
	|| fail "could not make the bundle"
sed -i 's|"linux": {|"linux": {"devices": [{"path": "/dev/hwrng", "type": "c", "major": 10, "minor": 183, "fileMode": 384, "uid": 0, "gid": 0}],|' bundle/config.json

"$RUNVM" --root "$root" run --bundle bundle r1 >out 2>err </dev/null
status=$?
echo "--- run exit $status"; cat out err
[ "$status" = 0 ] || fail "run failed"
grep -qx "current: virtio_rng.0" out || fail "the guest's hw_random core does not use virtio_rng.0"
reads=$(sed -n 's/^read: //p' out)
first=$(echo "$reads" | sed -n 1p) second=$(echo "$reads" | sed -n 2p)
[ ${#first} = 64 ] && [ ${#second} = 64 ] || fail "each read of /dev/hwrng should give 32 bytes: '$first' '$second'"
[ "$first" != "$second" ] || fail "two reads of /dev/hwrng gave the same bytes"
[ "$first" != "$(printf '0%.0s' $(seq 64))" ] || fail "/dev/hwrng gave zeros"
nothing_under "$root"
