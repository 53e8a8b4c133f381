# The container's PID namespace, as under runc: its process is PID 1 and
# sees only the container's processes in /proc (a proc of its own, with
# linux.maskedPaths and linux.readonlyPaths applied again); an exec'd
# process joins it; `ps` on the host lists both; when PID 1 exits, the
# kernel ends what was left running in the namespace.
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
root=$PWD/root
rv() { "$RUNVM" --root "$root" "$@"; }
trap 'rv delete --force c1 >/dev/null 2>&1' EXIT
make_bundle bundle 'echo "pid $$ init $(cat /proc/1/comm) procs $(ls /proc | grep -c "^[0-9]")"; echo "keys $(wc -c </proc/keys)"; (echo x >/proc/sys/kernel/domainname) 2>/dev/null || echo "proc/sys read-only"; echo started; while [ ! -e /tmp/stop ]; do sleep 0.1; done; echo stopping' \
	|| fail "could not make the bundle"

rv create --bundle bundle c1 >out 2>err </dev/null || { cat err; fail "create failed"; }
# Before start there is no PID namespace to join: refused, not run outside.
rv exec c1 true >early.out 2>&1 && fail "exec before start should be refused"
grep -q "start it first" early.out || fail "exec before start should say to start the container first: $(cat early.out)"
rv start c1 || fail "start failed"
wait_for started out 60
echo "--- container:"; cat out err
grep -q "^pid 1 init sh procs [1-4]$" out || fail "the container's process should be PID 1 and see only its own processes"
grep -qx "keys 0" out || fail "/proc/keys should be masked in the container's own proc"
grep -qx "proc/sys read-only" out || fail "/proc/sys should be read-only in the container's own proc"

rv exec c1 sh -c 'echo "exec pid $$ sees init $(cat /proc/1/comm)"; sleep 1000 </dev/null >/dev/null 2>&1 & echo "left $!"' >exec.out 2>exec.err </dev/null \
	|| { cat exec.err; fail "exec failed"; }
echo "--- exec:"; cat exec.out
grep -q "^exec pid [0-9]* sees init sh$" exec.out || fail "an exec'd process should join the container's PID namespace"
grep -q "^exec pid 1 " exec.out && fail "an exec'd process must not be PID 1 of a namespace of its own"
rv exec -d --pid-file epid c1 sleep 1000 </dev/null >/dev/null 2>&1 || fail "exec --detach failed"
rv ps --format json c1 >ps.out || fail "ps failed"
echo "ps: $(cat ps.out)"
[ "$(tr ',' '\n' <ps.out | grep -c '[0-9]')" = 2 ] || fail "ps should list the host processes of the init and the detached exec's sleep"
grep -q "\b$(cat epid)\b" ps.out || fail "ps should list the detached exec's relay $(cat epid)"

# PID 1 exits: the kernel ends the rest of its namespace (the sleep the
# first exec left behind, the detached one), and the container stops.
: >bundle/rootfs/tmp/stop
wait_stopped "$root" c1 30
grep -qx stopping out || fail "the container's process did not see the stop file"
tries=50
while alive "$(cat epid)" && [ $tries -gt 0 ]; do sleep 0.1; tries=$((tries - 1)); done
alive "$(cat epid)" && fail "the detached exec's sleep outlived the container's PID 1"
rv delete c1 || fail "delete failed"
nothing_under "$root"
