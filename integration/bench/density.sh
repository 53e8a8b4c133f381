# Density: 20 idle busybox containers started at once with `runvm run -d`
# (one run), and the same with runc as the reference: how many run, the
# time until all of them have printed their first line, the host memory
# each costs (the drop in MemAvailable over the 20, divided by 20), and
# how many failed to start. Needs RUNC besides the usual variables.
# timeout: 900
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
. "$TEST_LIB/bench.sh"

count=20
make_bundle idle 'echo started; exec sleep 1000' || fail "could not make the bundle"

uptime_ms() {
	awk '{ printf "%d", $1 * 1000 }' /proc/uptime
}

# start_all RUNTIME NAME: starts $count idle containers with RUNTIME at
# once (`run -d`) under its own root and sets running, failed, all_ms (the
# time until each has printed its first line or failed, 600 s at most)
# and per_kib (the drop in MemAvailable over all of them, per container);
# then deletes them.
start_all() {
	runtime=$1 name=$2
	root=$PWD/$name-root
	sync
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
	before=$(avail_kib)
	start=$(uptime_ms)
	for i in $(seq 1 $count); do
		{ "$runtime" --root "$root" run -d --bundle idle "$name$i" </dev/null >"$name$i.out" 2>&1 \
			|| echo "failed: $?" >>"$name$i.out"; } &
	done
	deadline=$((start + 600000))
	while :; do
		running=0 failed=0
		for i in $(seq 1 $count); do
			grep -q '^started' "$name$i.out" 2>/dev/null && running=$((running + 1))
			grep -q '^failed' "$name$i.out" 2>/dev/null && failed=$((failed + 1))
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
	echo "$name: $count containers at once: $running running, $failed failed, all up after $all_ms ms, $per_kib KiB each"
	for i in $(seq 1 $count); do
		grep -q '^started' "$name$i.out" || { echo "$name$i:"; cat "$name$i.out"; }
	done
	for i in $(seq 1 $count); do
		"$runtime" --root "$root" delete --force "$name$i" >/dev/null 2>&1
	done
	nothing_under "$root"
}

start_all "$RUNC" runc
runc_running=$running runc_ms=$all_ms runc_kib=$per_kib
start_all "$RUNVM" runvm
row_values density "$count containers started at once: running" count "$running" runc "$runc_running"
row_values density "$count containers started at once: failed" count "$((count - running))" runc "$((count - runc_running))"
row_values density "$count containers started at once: time until all run" ms "$all_ms" runc "$runc_ms"
row_values density "$count containers started at once: host memory per container" KiB "$per_kib" runc "$runc_kib"
