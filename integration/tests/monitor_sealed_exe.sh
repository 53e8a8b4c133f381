# The monitor never runs from a writable path to runvm: /proc/<pid>/exe is
# a file on a read-only overlayfs over runvm's directory that cannot be
# written or truncated (the CVE-2019-5736 class), and no monitor makes a
# copy of the binary (it carries the guest kernel: ~30 MiB each). The
# binary on disk is untouched, and replacing it (by rename, as install and
# package managers do) does not change a running monitor. The monitor
# keeps none of the fds its caller leaked to it, and may not dump core
# (its memory is guest RAM).
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
echo "monitor $pid1 runs $exe1 (file system magic $(stat -f -L -c %t /proc/$pid1/exe)); argv: $(tr '\0' ' ' </proc/$pid1/cmdline); comm: $(cat /proc/$pid1/comm)"
# OVERLAYFS_SUPER_MAGIC (busybox's stat has no name for it).
for pid in $pid1 $pid2; do
	[ "$(stat -f -L -c %t /proc/$pid/exe)" = 794c7630 ] || fail "monitor $pid should run from an overlayfs, runs $(readlink /proc/$pid/exe)"
	[ "$(sha256sum </proc/$pid/exe | cut -d' ' -f1)" = "$before" ] || fail "monitor $pid does not run the runvm binary"
	if grep -q "/memfd:runvm (deleted)" /proc/$pid/maps; then fail "monitor $pid maps a copy of the binary"; fi
done
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

# Replacing the binary on disk by a rename leaves the running monitors on
# the old one (the new one differs by a byte and still runs).
cp -p "$RUNVM" "$RUNVM.orig" && cp -p "$RUNVM" "$RUNVM.next" && printf 'x' >>"$RUNVM.next" \
	&& mv "$RUNVM.next" "$RUNVM" || fail "could not replace the binary on disk"
replaced=$(sha256sum "$RUNVM" | cut -d' ' -f1)
[ "$(sha256sum </proc/$pid1/exe | cut -d' ' -f1)" = "$before" ] \
	|| fail "replacing the binary on disk changed the running monitor's executable"
mv "$RUNVM.orig" "$RUNVM" || fail "could not put the binary back"
echo "replaced on disk ($replaced) and back; the monitor's executable stayed $before"

for fd in /proc/$pid1/fd/*; do
	[ "$(readlink "$fd" 2>/dev/null)" = "$PWD/leaked" ] && fail "the monitor kept the fd its caller leaked (${fd##*/})"
done
grep "Max core file size" /proc/$pid1/limits
grep -q "Max core file size *0 *0 " /proc/$pid1/limits || fail "the monitor may dump core"

# Both containers still work.
rv start c1 || fail "start c1 failed"
rv start c2 || fail "start c2 failed"
wait_for started out1 60
wait_for started out2 60
rv delete --force c1 || fail "delete c1 failed"
# c2 runs on once c1 is gone, and a third container runs.
make_bundle third 'echo third-ran' || fail "could not make the third bundle"
rv run --bundle third c3 >out3 2>err3 </dev/null || { cat err3; fail "run c3 failed"; }
grep -q third-ran out3 || fail "the third container did not run"
alive "$pid2" || fail "the second monitor died"
rv delete --force c2 || fail "delete c2 failed"
nothing_under "$root"
