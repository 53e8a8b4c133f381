# Density: 20 idle busybox containers started at once with `runvm run -d`
# (one run): how many run, the time until all of them have printed their
# first line, the host memory each costs (the drop in MemAvailable over
# the 20, divided by 20), and how many failed to start.
# timeout: 900
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
. "$TEST_LIB/bench.sh"

count=20
root=$PWD/root
make_bundle idle 'echo started; exec sleep 1000' || fail "could not make the bundle"

uptime_ms() {
	awk '{ printf "%d", $1 * 1000 }' /proc/uptime
}

sync
echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
before=$(avail_kib)
start=$(uptime_ms)
for i in $(seq 1 $count); do
	{ "$RUNVM" --root "$root" run -d --bundle idle "d$i" </dev/null >"d$i.out" 2>&1 || echo "failed: $?" >>"d$i.out"; } &
done
# Until every container printed its first line or failed, 600 s at most.
deadline=$((start + 600000))
while :; do
	running=0 failed=0
	for i in $(seq 1 $count); do
		grep -q '^started' "d$i.out" 2>/dev/null && running=$((running + 1))
		grep -q '^failed' "d$i.out" 2>/dev/null && failed=$((failed + 1))
	done
	now=$(uptime_ms)
	[ $((running + failed)) -lt $count ] && [ "$now" -lt "$deadline" ] || break
	sleep 0.2
done
all_ms=$((now - start))
wait
sleep 2
after=$(avail_kib)
per_kib=$(((before - after) / count))
echo "$count containers at once: $running running, $failed failed, all up after $all_ms ms, $per_kib KiB each"
for i in $(seq 1 $count); do
	grep -q '^started' "d$i.out" || { echo "d$i:"; cat "d$i.out"; }
done
for i in $(seq 1 $count); do
	"$RUNVM" --root "$root" delete --force "d$i" >/dev/null 2>&1
done
row_values density "$count containers started at once: running" count "$running"
row_values density "$count containers started at once: failed" count "$((count - running))"
row_values density "$count containers started at once: time until all run" ms "$all_ms"
row_values density "$count containers started at once: host memory per container" KiB "$per_kib"
nothing_under "$root"
