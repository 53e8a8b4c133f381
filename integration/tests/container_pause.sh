# pause/resume, as `docker pause` drives it: while paused the VM's vCPUs
# stop, so a counter loop in the container does not advance; status is
# `paused`; exec and ps refuse; a TERM sent meanwhile lands at resume;
# SIGKILL ends a paused container at once.
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
root=$PWD/root
make_bundle bundle 'trap "echo got-term >/tmp/term; exit 0" TERM; i=0; while true; do i=$((i+1)); echo $i >/tmp/count; sleep 0.1; done' \
	|| fail "could not make the bundle"
rv() { "$RUNVM" --root "$root" "$@"; }
# The container rewrites the file (truncate, then write): read while it is
# empty, it counts as 0, not as a "bad number" that ends a wait early.
count() {
	c=$(cat bundle/rootfs/tmp/count 2>/dev/null)
	case $c in '' | *[!0-9]*) echo 0 ;; *) echo "$c" ;; esac
}
wait_count_above() {
	tries=$(($2 * 10))
	while [ "$(count)" -le "$1" ] && [ $tries -gt 0 ]; do sleep 0.1; tries=$((tries - 1)); done
	[ "$(count)" -gt "$1" ] || fail "the counter did not pass $1 within $2 s (at $(count))"
}
status_is() { rv state c1 | grep -q "\"status\": \"$1\""; }

rv create --bundle bundle c1 </dev/null >out 2>err || { cat err; fail "create failed"; }
rv start c1 || fail "start failed"
wait_count_above 3 60

rv pause c1 || fail "pause failed"
status_is paused || fail "state should be paused"
before=$(count)
sleep 2
after=$(count)
echo "paused: counter $before, 2 s later $after"
[ "$before" = "$after" ] || fail "the counter advanced while paused ($before -> $after)"
rv exec c1 true >exec.out 2>&1 && fail "exec into a paused container should fail"
grep -q "cannot exec in a paused container" exec.out || { cat exec.out; fail "exec should say the container is paused"; }
rv ps c1 >ps.out 2>&1 && fail "ps of a paused container should fail"
grep -q "paused" ps.out || { cat ps.out; fail "ps should say the container is paused"; }
rv pause c1 >again.out 2>&1 && fail "pausing a paused container should fail"
cat again.out

rv resume c1 || fail "resume failed"
status_is running || fail "state should be running after resume"
wait_count_above "$after" 30
echo "resumed: counter $(count)"
rv resume c1 >again.out 2>&1 && fail "resuming a running container should fail"
grep -q "not paused" again.out || { cat again.out; fail "resume should say the container is not paused"; }

rv pause c1 || fail "second pause failed"
rv kill c1 TERM || fail "kill TERM of a paused container failed"
sleep 1
[ -e bundle/rootfs/tmp/term ] && fail "the TERM trap ran while paused"
status_is paused || fail "still paused after kill TERM"
rv resume c1 || fail "second resume failed"
tries=100
while ! status_is stopped && [ $tries -gt 0 ]; do sleep 0.1; tries=$((tries - 1)); done
status_is stopped || fail "the TERM sent while paused did not stop the container after resume"
grep -q got-term bundle/rootfs/tmp/term || fail "the TERM trap did not run after resume"
rv delete c1 || fail "delete failed"

rm -f bundle/rootfs/tmp/count
rv create --bundle bundle c1 </dev/null >out 2>err || { cat err; fail "create (2) failed"; }
pid=$(monitor_pid "$root" c1)
rv start c1 || fail "start (2) failed"
wait_count_above 1 60
rv pause c1 || fail "pause (2) failed"
rv kill c1 KILL || fail "kill KILL of a paused container failed"
tries=100
while alive "$pid" && [ $tries -gt 0 ]; do sleep 0.1; tries=$((tries - 1)); done
alive "$pid" && fail "the monitor $pid of a paused container survived SIGKILL"
status_is stopped || fail "state should be stopped after SIGKILL while paused"
rv delete c1 || fail "delete (2) failed"
nothing_under "$root"
