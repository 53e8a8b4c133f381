# A process spec without a `capabilities` object gets no capabilities, as
# under runc: root in the container cannot do what needs one.
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
root=$PWD/root
make_bundle bundle 'grep -E "^Cap(Eff|Prm|Bnd)" /proc/self/status; mknod /tmp/null c 1 3 && echo mknod-worked; exit 0' \
	|| fail "could not make the bundle"
sed -i '/"capabilities":/d; s|"cwd": "/",|"cwd": "/"|' bundle/config.json
grep -q capabilities bundle/config.json && fail "could not drop the capabilities"
"$RUNVM" --root "$root" run --bundle bundle nocaps </dev/null >out 2>err
status=$?
echo "--- exit $status"; cat out err
[ "$status" = 0 ] || fail "run failed"
for set in CapEff CapPrm CapBnd; do
	grep -q "^$set:[[:space:]]*0000000000000000$" out || fail "$set is not empty"
done
grep -q mknod-worked out && fail "mknod worked without CAP_MKNOD"
nothing_under "$root"
