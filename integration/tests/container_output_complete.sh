# Every byte a container writes reaches the caller, however slowly the
# caller reads. First two containers write and exit while the reader of
# their stdout (a pipe) starts only 10 s after their end, later than the
# guest kernel waits (8 s) for the host to finish a closed vsock
# connection: 128 KiB then 2000 lines of one write each, and 400 KiB in
# bulk. Then 20 containers, two at a time, each write 256 KiB of numbered
# lines on stdout and another 256 KiB on stderr at once and exit, the
# caller's stdout and stderr a file and a pipe in turn. Each stream must
# arrive whole: byte count and checksum of the expected text. (A
# container whose VM resets under it runs once more: see rerun_if_reset.)
# timeout: 900
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
root=$PWD/root
failed=0

# check NAME FILE EXPECTED_FILE [PIPE_SUM]: FILE (and PIPE_SUM, the
# checksum of the pipe FILE was copied from) holds EXPECTED_FILE exactly.
check() {
	want=$(sha256sum <"$3")
	got=$(sha256sum <"$2")
	if [ "$got" != "$want" ] || [ "${4:-$want}" != "$want" ]; then
		echo "--- $1: $(wc -c <"$2") bytes of $(wc -c <"$3"); first difference:"
		cmp "$2" "$3" 2>&1 | head -1
		echo "--- last line received: $(tail -c 200 "$2" | tail -1)"
		return 1
	fi
}

# late_reader NAME COMMAND: runs COMMAND in a container whose stdout pipe
# is read only from 10 s after COMMAND ended (it leaves /written in its
# rootfs), and checks what arrives.
late_reader() {
	make_bundle "$1" "$2; touch /written" || fail "could not make the bundle for $1"
	sh -c "$2" >"$1.expected"
	{
		"$RUNVM" --root "$root" --log "$PWD/$1.log" run --bundle "$1" "$1" 2>"$1.err" </dev/null
		echo $? >"$1.status"
	} | {
		# (or runvm's end, if the container never got there)
		while [ ! -e "$1/rootfs/written" ] && [ ! -e "$1.status" ]; do sleep 0.2; done
		sleep 10
		cat >"$1.out"
	}
	echo "$1: run exit $(cat "$1.status"), $(wc -c <"$1.out") of $(wc -c <"$1.expected") bytes on stdout; stderr:"
	cat "$1.err"
	if [ "$(cat "$1.status")" != 0 ] || ! check "$1" "$1.out" "$1.expected"; then
		echo "--- $1: runvm's log:"; cat "$1.log" 2>/dev/null
		echo "$1: FAILED"
		failed=$((failed + 1))
	fi
}

# 128 KiB first fill the pipe and the relay's buffer, so the lines that
# follow, one small packet each, fill the monitor's vsock socket.
late_reader lines 'seq 1 100000 | head -c 131072; i=1; while [ $i -le 2000 ]; do echo "line $i of 2000"; i=$((i + 1)); done'
late_reader bulk 'seq 1 100000 | head -c 409600'

# 20, not the 50 of issue 16: each is a nested VM boot, and in the test
# host a nested guest triple-faults now and then (see rerun_if_reset),
# which costs a run. 50 ran clean in two runs; the loss itself shows in
# the late readers above.
runs=20
size=262144
stdout_text='seq 1 100000 | head -c 262144'
stderr_text='seq 200000 300000 | head -c 262144'
make_bundle bundle "($stdout_text) & $stderr_text >&2; wait" || fail "could not make the bundle"
sh -c "$stdout_text" >expected.out
sh -c "$stderr_text" >expected.err
[ "$(wc -c <expected.out)" = $size ] && [ "$(wc -c <expected.err)" = $size ] ||
	fail "the expected text is not $size bytes"

# run_container I: container cI with stdout to a file and stderr into a
# pipe for even I, the other way round for odd I.
run_container() {
	if [ $(($1 % 2)) = 0 ]; then
		{
			"$RUNVM" --root "$root" --log "$PWD/log.$1" run --bundle bundle "c$1" 2>&1 >"out.$1" </dev/null
			echo $? >"status.$1"
		} | tee "err.$1" | sha256sum >"err.$1.pipe"
	else
		{
			"$RUNVM" --root "$root" --log "$PWD/log.$1" run --bundle bundle "c$1" 2>"err.$1" </dev/null
			echo $? >"status.$1"
		} | tee "out.$1" | sha256sum >"out.$1.pipe"
	fi
}

# container_complete I: whether cI ended well with all its output.
container_complete() {
	status=$(cat "status.$1")
	out_pipe= err_pipe=
	[ -f "out.$1.pipe" ] && out_pipe=$(cat "out.$1.pipe")
	[ -f "err.$1.pipe" ] && err_pipe=$(cat "err.$1.pipe")
	ok=yes
	[ "$status" = 0 ] || { echo "--- c$1: run exit $status; runvm's log:"; cat "log.$1"; ok=no; }
	check "c$1 stdout" "out.$1" expected.out "$out_pipe" || ok=no
	check "c$1 stderr" "err.$1" expected.err "$err_pipe" || ok=no
	if [ $ok = yes ]; then
		echo "c$1: stdout $(wc -c <"out.$1") bytes, stderr $(wc -c <"err.$1") bytes, all there"
	else
		echo "c$1: FAILED"
		failed=$((failed + 1))
	fi
	rm -f "out.$1" "err.$1"
}

# pair_ended I J: whether the runs of cI and cJ have both returned.
pair_ended() {
	[ -e "status.$1" ] && [ -e "status.$2" ]
}
# A run that never returns is a defect of its own, not lost output: after
# 300 s say where each unfinished container is (its state, the monitor's
# log, the guest's console), end it, and fail, rather than hang until the
# test's timeout and leave its monitor to the next test.
end_hung_pair() {
	for c in "$@"; do
		[ -e "status.$c" ] && continue
		echo "--- c$c has not ended after 300 s: $("$RUNVM" --root "$root" state "c$c" 2>&1 | tr -d '\n')"
		echo "--- c$c monitor.log:"; tail -20 "$root/c$c/monitor.log" 2>/dev/null
		echo "--- c$c console.log:"; tail -30 "$root/c$c/console.log" 2>/dev/null
		ps | grep "c$c" | grep -v grep
		"$RUNVM" --root "$root" delete --force "c$c"
	done
	wait
	fail "a run did not return"
}
# rerun_if_reset I: runs cI once more, alone, if its VM triple-faulted
# under it (runvm's log says so; `run` then exits 1 if it happened before
# the container was created, 255 after): in the nested test host about one
# nested guest in 50 triple-faults (README, status: nested test host), a
# defect of the emulation that says nothing about lost output. The reset
# is printed; a second reset, or any other failure, fails the test.
rerun_if_reset() {
	[ "$(cat "status.$1")" != 0 ] && grep -q "the guest reset (triple fault)" "log.$1" || return 0
	echo "--- c$1: the guest reset under it (runvm's log below); running it once more"
	cat "log.$1"
	rm -f "status.$1" "out.$1" "err.$1" "out.$1.pipe" "err.$1.pipe" "log.$1"
	"$RUNVM" --root "$root" delete --force "c$1" 2>/dev/null
	run_container "$1"
}
# Two at a time: the test host has two CPUs.
start=$(cut -d. -f1 /proc/uptime)
i=1
while [ $i -le $runs ]; do
	run_container $i &
	run_container $((i + 1)) &
	tries=3000
	until pair_ended $i $((i + 1)) || [ $tries = 0 ]; do
		sleep 0.1
		tries=$((tries - 1))
	done
	pair_ended $i $((i + 1)) || end_hung_pair $i $((i + 1))
	wait
	rerun_if_reset $i
	rerun_if_reset $((i + 1))
	container_complete $i
	container_complete $((i + 1))
	i=$((i + 2))
done
echo "$runs containers in $(($(cut -d. -f1 /proc/uptime) - start)) s"
nothing_under "$root"
[ $failed = 0 ] || fail "$failed of $((runs + 2)) containers lost output"
echo "all output arrived"
