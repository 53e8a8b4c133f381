# events and update, as `docker stats` and `docker update` need them: the
# container's cgroup in the guest holds its processes (exec'd ones too),
# `events --stats` reports the spec's limits and real usage as runc's JSON,
# `update` changes the limits and the kernel enforces them (a pids limit
# makes fork fail), an update beyond the VM's size is refused clearly, and
# `events` without --stats streams lines until the container stops.
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
root=$PWD/root
make_bundle bundle 'echo started; while true; do sleep 0.1; done' || fail "could not make the bundle"
sed -i 's/"namespaces":/"resources": {"memory": {"limit": 134217728}, "pids": {"limit": 50}}, "namespaces":/' \
	bundle/config.json
grep -q '"resources"' bundle/config.json || fail "could not add resources to the bundle"
rv() { "$RUNVM" --root "$root" "$@"; }

rv create --bundle bundle c1 </dev/null >out 2>err || { cat err; fail "create failed"; }
rv start c1 || fail "start failed"
wait_for started out 60

rv events --stats c1 >stats.json 2>err || { cat err; fail "events --stats failed"; }
echo "--- events --stats:"; cat stats.json
[ "$(wc -l <stats.json)" = 1 ] || fail "events --stats should print one line"
grep -q '^{"type":"stats","id":"c1","data":{"cpu":{"usage":{"total":[1-9]' stats.json \
	|| fail "events should report the container's CPU time"
grep -q '"usage":{"limit":134217728,"usage":[1-9]' stats.json \
	|| fail "events should report the spec's 128 MiB memory limit and real usage"
grep -q '"pids":{"current":[1-9][0-9]*,"limit":50}' stats.json || fail "events should report the pids limit 50"

rv exec c1 cat /proc/self/cgroup >cgroup.out 2>&1 || { cat cgroup.out; fail "exec failed"; }
grep -q '^0::/container$' cgroup.out || { cat cgroup.out; fail "an exec'd process should be in the container cgroup"; }

rv update --memory 64m --pids-limit 8 c1 || fail "update failed"
rv events --stats c1 >stats2.json || fail "events after update failed"
echo "--- after update:"; cat stats2.json
grep -q '"usage":{"limit":67108864,' stats2.json || fail "update --memory 64m did not reach the cgroup"
grep -q '"limit":8}' stats2.json || fail "update --pids-limit 8 did not reach the cgroup"
rv exec c1 sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do sleep 5 & done; wait' >fork.out 2>&1
echo "--- forks beyond the pids limit:"; cat fork.out
grep -qi "fork" fork.out || fail "forks beyond the pids limit should fail"

echo '{"memory": {"limit": 1048576}, "pids": {"limit": 100}}' | rv update --resources - c1 \
	|| fail "update --resources - failed"
rv events --stats c1 | grep -q '"usage":{"limit":1048576,' || fail "update --resources - did not apply"

rv update --memory 2g c1 >big.out 2>&1 && fail "an update beyond the VM's memory should fail"
cat big.out
grep -q "exceeds the VM's" big.out || fail "the error should say the VM is too small"
rv update --cpuset-cpus 0 c1 >pin.out 2>&1 && fail "changing host pinning of a running VM should fail"
cat pin.out
echo '{"pids": {"limit": "many"}}' | rv update -r - c1 >bad.out 2>&1 && fail "invalid resources JSON should fail"
grep -q "invalid linux.resources JSON" bad.out || { cat bad.out; fail "the error should name the invalid JSON"; }

rv events --interval 1s c1 >stream.json 2>stream.err &
events=$!
sleep 3
rv kill c1 KILL || fail "kill failed"
tries=100
while alive $events && [ $tries -gt 0 ]; do sleep 0.1; tries=$((tries - 1)); done
alive $events && fail "events did not end when the container stopped"
wait $events || { cat stream.err; fail "events should exit 0 when the container stops"; }
lines=$(grep -c '"type":"stats"' stream.json)
echo "streamed $lines lines"
[ "$lines" -ge 2 ] || fail "events --interval 1s should print a line a second"
rv delete c1 || fail "delete failed"
nothing_under "$root"
