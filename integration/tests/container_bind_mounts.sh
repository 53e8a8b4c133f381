# Bind mounts of a host directory and of a single host file from
# config.json are visible at their destinations; `ro` is enforced.
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
root=$PWD/root
mkdir -p hostdir && echo "in hostdir" >hostdir/file
echo "10.0.0.1 example" >hosts
mounts=",
    {\"destination\": \"/data\", \"type\": \"bind\", \"source\": \"$PWD/hostdir\", \"options\": [\"rbind\", \"rw\"]},
    {\"destination\": \"/etc/hosts\", \"type\": \"bind\", \"source\": \"$PWD/hosts\", \"options\": [\"bind\", \"ro\"]}"
make_bundle bundle 'cat /data/file; echo new >/data/new; cat /etc/hosts; echo evil >/etc/hosts && echo WROTE-RO; exit 0' "$mounts" \
	|| fail "could not make the bundle"

"$RUNVM" --root "$root" run --bundle bundle b1 >out 2>err </dev/null
status=$?
echo "--- run exit $status"; cat out; cat err
[ "$status" = 0 ] || fail "run failed"
grep -q "^in hostdir$" out || fail "the bound directory's file is not visible"
[ "$(cat hostdir/new)" = new ] || fail "a write to the rw bind did not reach the host"
grep -q "^10.0.0.1 example$" out || fail "the bound file is not visible"
grep -q WROTE-RO out && fail "a write to the ro bind succeeded"
[ "$(cat hosts)" = "10.0.0.1 example" ] || fail "the ro file changed on the host"
nothing_under "$root"
