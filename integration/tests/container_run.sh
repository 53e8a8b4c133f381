# `runvm run` runs the bundle's process in its rootfs: its stdout reaches
# the caller, it sees the bundle's files and hostname, and runvm exits
# with its status; the container is gone afterwards.
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
root=$PWD/root
make_bundle bundle 'echo hello; cat /from-host; hostname; exit 42' || fail "could not make the bundle"
echo "written on the host" >bundle/rootfs/from-host

"$RUNVM" --root "$root" run --bundle bundle r1 >out 2>err </dev/null
status=$?
echo "--- run exit $status; stdout:"; cat out; echo "--- stderr:"; cat err
[ "$status" = 42 ] || fail "run should exit 42"
grep -q "^hello$" out || fail "no hello on stdout"
grep -q "^written on the host$" out || fail "the container did not see the host's file"
grep -q "^runvm-test$" out || fail "hostname should be the spec's"
nothing_under "$root"
