# Loopback is up in the container, as runc leaves it in a new network
# namespace: a TCP connection to 127.0.0.1 inside the container carries
# bytes, and lo is flagged up (IFF_UP|IFF_LOOPBACK).
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
root=$PWD/root
make_bundle bundle 'echo "lo flags: $(cat /sys/class/net/lo/flags)"
busybox nc -l -p 7000 >/tmp/got &
listener=$!
tries=0
until echo through-lo | busybox nc -w 2 127.0.0.1 7000; do
	tries=$((tries + 1))
	if [ $tries -ge 20 ]; then kill $listener; break; fi
	sleep 0.5
done
wait $listener
echo "got: $(cat /tmp/got)"' || fail "could not make the bundle"

"$RUNVM" --root "$root" run --bundle bundle lo1 >out 2>err </dev/null
status=$?
echo "--- run exit $status"; cat out err
[ "$status" = 0 ] || fail "run failed"
grep -qx "lo flags: 0x9" out || fail "lo is not up in the container"
grep -qx "got: through-lo" out || fail "nothing crossed a TCP connection to 127.0.0.1"
nothing_under "$root"
