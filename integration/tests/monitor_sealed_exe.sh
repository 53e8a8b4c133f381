# The monitor runs from a sealed in-memory copy of runvm, not from the
# binary on disk: /proc/<pid>/exe is a memfd that cannot be written or
# truncated (the CVE-2019-5736 class), the binary on disk is untouched, and
# a second container's monitor shares the first one's copy instead of
# making its own (the binary carries the guest kernel: ~30 MiB each). The
# monitor keeps none of the fds its caller leaked to it, and may not dump
# core (its memory is guest RAM).
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
root=$PWD/root
rv() { "$RUNVM" --root "$root" "$@"; }
before=$(sha256sum "$RUNVM" | cut -d' ' -f1)
make_bundle bundle 'echo started; while true; do sleep 0.1; done' || fail "could not make the bundle"

# fd 7 is open (not close-on-exec) in the shell that runs create.
rv create --bundle bundle c1 >out1 2>err1 </dev/null 7>"$PWD/leaked" || { cat err1; fail "create c1 failed"; }
rv create --bundle bundle c2 >out2 2>err2 </dev/null || { cat err2; fail "create c2 failed"; }
pid1=$(monitor_pid "$root" c1)
pid2=$(monitor_pid "$root" c2)
[ -n "$pid1" ] && [ -n "$pid2" ] || fail "no monitor pids"
exe1=$(readlink /proc/$pid1/exe)
echo "monitor $pid1 runs $exe1; argv: $(tr '\0' ' ' </proc/$pid1/cmdline); comm: $(cat /proc/$pid1/comm)"
case $exe1 in
/memfd:runvm*) ;;
*) fail "the monitor should run from a memfd, runs $exe1" ;;
esac
inode1=$(stat -L -c %d:%i /proc/$pid1/exe)
inode2=$(stat -L -c %d:%i /proc/$pid2/exe)
echo "copies: c1 $inode1, c2 $inode2"
[ "$inode1" = "$inode2" ] || fail "the second monitor made its own copy ($inode2) instead of sharing $inode1"
[ "$(cat /proc/$pid1/comm)" = runvm ] || fail "the monitor's name should be runvm, is $(cat /proc/$pid1/comm)"
case "$(tr '\0' ' ' </proc/$pid1/cmdline)" in
"$RUNVM "*monitor*) ;;
*) fail "argv[0] should name the binary on disk" ;;
esac

# Not even root on the host can change the running copy (a redirection
# that fails ends busybox sh: each runs in a subshell).
if (printf 'x' >>/proc/$pid1/exe) 2>append.err; then fail "appending to the monitor's executable succeeded"; fi
if (: >/proc/$pid1/exe) 2>truncate.err; then fail "truncating the monitor's executable succeeded"; fi
echo "append: $(cat append.err); truncate: $(cat truncate.err)"
[ "$(sha256sum "$RUNVM" | cut -d' ' -f1)" = "$before" ] || fail "the runvm binary on disk changed"

for fd in /proc/$pid1/fd/*; do
	[ "$(readlink "$fd" 2>/dev/null)" = "$PWD/leaked" ] && fail "the monitor kept the fd its caller leaked (${fd##*/})"
done
grep "Max core file size" /proc/$pid1/limits
grep -q "Max core file size *0 *0 " /proc/$pid1/limits || fail "the monitor may dump core"

# Both containers still work from the shared copy.
rv start c1 || fail "start c1 failed"
rv start c2 || fail "start c2 failed"
wait_for started out1 60
wait_for started out2 60
rv delete --force c1 || fail "delete c1 failed"
# The copy outlives the monitor that made it: c2 runs on, and a third
# container still runs once c1 is gone.
make_bundle third 'echo third-ran' || fail "could not make the third bundle"
rv run --bundle third c3 >out3 2>err3 </dev/null || { cat err3; fail "run c3 failed"; }
grep -q third-ran out3 || fail "the third container did not run"
alive "$pid2" || fail "the second monitor died"
rv delete --force c2 || fail "delete c2 failed"
nothing_under "$root"
