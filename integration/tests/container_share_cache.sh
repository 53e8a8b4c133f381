# The annotation io.runvm.share_cache sets how long the guest caches the
# share. The container reads a rootfs file, the host replaces it (a new
# file renamed over it, as `docker cp` does), and two seconds later the
# container reads it again: with `auto` (the default, revalidated after
# 1 s) and `never` it sees the host's new file, with `always` (entries
# cached for a day) still the one it read first. A value it does
# not know is refused by name, with nothing left behind.
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
root=$PWD/root

script='echo "before: $(cat /f)"; touch /ready; while [ ! -e /go ]; do sleep 0.1; done; sleep 2; echo "after: $(cat /f), $(stat -c %s /f) bytes"'

for mode in auto always never; do
	make_bundle "$mode" "$script" || fail "could not make the bundle"
	annotate "$mode" io.runvm.share_cache "$mode" || fail "could not annotate the bundle"
	r=$mode/rootfs
	echo old >$r/f
	"$RUNVM" --root "$root" run --bundle "$mode" "c-$mode" >"$mode.out" 2>"$mode.err" </dev/null &
	pid=$!
	tries=600
	while [ ! -e $r/ready ] && [ "$tries" -gt 0 ]; do sleep 0.1; tries=$((tries - 1)); done
	[ -e $r/ready ] || { kill $pid; cat "$mode.out" "$mode.err"; fail "$mode: the container did not start"; }
	echo "new content" >$r/f.new
	mv $r/f.new $r/f
	touch $r/go
	wait $pid
	status=$?
	echo "--- $mode: run exit $status"; cat "$mode.out" "$mode.err"
	[ "$status" = 0 ] || fail "$mode: run failed"
	grep -qx "before: old" "$mode.out" || fail "$mode: the container did not read the file first"
	case $mode in
	always) expected="after: old, 4 bytes" ;;
	*) expected="after: new content, 12 bytes" ;;
	esac
	grep -qx "$expected" "$mode.out" || fail "$mode: the container read $(grep after "$mode.out"), not '$expected'"
done

make_bundle bad 'true' || fail "could not make the bundle"
annotate bad io.runvm.share_cache sometimes || fail "could not annotate the bundle"
"$RUNVM" --root "$root" run --bundle bad c-bad >bad.out 2>bad.err </dev/null && fail "an unknown share_cache value was accepted"
cat bad.err
grep -q 'annotations.io.runvm.share_cache: "sometimes" is not "auto", "always" or "never"' bad.err \
	|| fail "the refusal does not name the annotation and its values"
grep -q sometimes bad.out && fail "the refusal went to stdout"
nothing_under "$root"
