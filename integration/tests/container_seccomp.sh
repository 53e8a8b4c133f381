# linux.seccomp inside the guest, as docker passes its profile: a blocked
# call fails with the profile's errno, argument conditions pick the calls
# an entry blocks, SCMP_ACT_KILL_PROCESS ends the process with SIGSYS,
# exec'd processes run under the same profile, and a profile runvm cannot
# apply (SCMP_ACT_NOTIFY) is refused at create, naming it, with nothing
# left behind.
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
root=$PWD/root
rv() { "$RUNVM" --root "$root" "$@"; }
trap 'rv delete --force c1 >/dev/null 2>&1' EXIT

# with_seccomp BUNDLE PROFILE_JSON: sets the bundle's linux.seccomp.
with_seccomp() {
	sed -i "s|\"linux\": {|\"linux\": {\"seccomp\": $2,|" "$1/config.json"
}
profile='{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": ['
profile="$profile"'{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}, '
profile="$profile"'{"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": [{"index": 1, "value": 511, "op": "SCMP_CMP_EQ"}]}, '
profile="$profile"'{"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": [{"index": 2, "value": 511, "op": "SCMP_CMP_EQ"}]}, '
profile="$profile"'{"names": ["sethostname"], "action": "SCMP_ACT_KILL_PROCESS"}, '
profile="$profile"'{"names": ["arm_fadvise64", "socketcall"], "action": "SCMP_ACT_ERRNO"}]}'
make_bundle bundle 'mkdir /made; echo "mkdir status $?"; touch /f; chmod 755 /f; echo "chmod 755 status $?"; chmod 777 /f; echo "chmod 777 status $?"; stat -c "mode %a" /f; (hostname evil); echo "hostname status $?"; hostname; echo started; while true; do sleep 0.1; done' \
	|| fail "could not make the bundle"
with_seccomp bundle "$profile"

rv create --bundle bundle c1 >out 2>err </dev/null || { cat err; fail "create failed"; }
rv start c1 || fail "start failed"
wait_for started out 60
echo "--- container:"; cat out err
grep -q "^mkdir: can't create directory '/made': Operation not permitted" err \
	|| fail "mkdir should fail with the profile's EPERM"
grep -qx "mkdir status 1" out || fail "mkdir should fail under the profile"
[ -e bundle/rootfs/made ] && fail "the blocked mkdir made the directory"
grep -qx "chmod 755 status 0" out || fail "chmod 755 matches no entry and should work"
grep -qx "chmod 777 status 1" out || fail "chmod 777 matches the entry's condition and should fail"
grep -q "Permission denied" err || fail "chmod 777 should fail with the profile's EACCES"
grep -qx "mode 755" out || fail "the blocked chmod changed the mode"
grep -qx "hostname status 159" out || fail "sethostname should kill the process with SIGSYS (status 159)"
grep -qx "runvm-test" out || fail "the hostname changed despite the profile"

rv exec c1 sh -c 'mkdir /from-exec; echo "exec mkdir status $?"' >exec.out 2>exec.err </dev/null
echo "--- exec:"; cat exec.out exec.err
grep -qx "exec mkdir status 1" exec.out || fail "an exec'd process should run under the container's profile"
rv delete --force c1 || fail "delete failed"
nothing_under "$root"

make_bundle notify 'true' || fail "could not make the bundle"
with_seccomp notify '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}'
rv create --bundle notify c2 >out 2>err </dev/null
status=$?
echo "--- notify: exit $status"; cat err
[ "$status" = 1 ] || fail "a profile with SCMP_ACT_NOTIFY should be refused with exit 1"
grep -q "SCMP_ACT_NOTIFY" err || fail "the error should name SCMP_ACT_NOTIFY"
nothing_under "$root"
