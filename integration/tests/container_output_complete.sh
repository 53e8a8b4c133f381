# Every byte a container writes reaches the caller, however slowly the
# caller reads. First two containers write and exit while the reader of
# their stdout (a pipe) starts only 12 s later, longer than the guest
# kernel waits (8 s) for the host to finish a closed vsock connection:
# 128 KiB then 2000 lines of one write each, and 400 KiB in bulk. Then 50
# containers each write 256 KiB of numbered lines on stdout and another
# 256 KiB on stderr at once and exit, the caller's stdout and stderr a
# file and a pipe in turn. Each stream must arrive whole: byte count and
# checksum of the expected text.
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
# is read only from 12 s after it starts, and checks what arrives.
late_reader() {
	make_bundle "$1" "$2" || fail "could not make the bundle for $1"
	sh -c "$2" >"$1.expected"
	{
		"$RUNVM" --root "$root" run --bundle "$1" "$1" 2>"$1.err" </dev/null
		echo $? >"$1.status"
	} | {
		sleep 12
		cat >"$1.out"
	}
	echo "$1: run exit $(cat "$1.status"), $(wc -c <"$1.out") of $(wc -c <"$1.expected") bytes on stdout; stderr:"
	cat "$1.err"
	if [ "$(cat "$1.status")" != 0 ] || ! check "$1" "$1.out" "$1.expected"; then
		echo "$1: FAILED"
		failed=$((failed + 1))
	fi
}

# 128 KiB first fill the pipe and the relay's buffer, so the lines that
# follow, one small packet each, fill the monitor's vsock socket.
late_reader lines 'seq 1 100000 | head -c 131072; i=1; while [ $i -le 2000 ]; do echo "line $i of 2000"; i=$((i + 1)); done'
late_reader bulk 'seq 1 100000 | head -c 409600'

runs=50
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
	i=$1
	if [ $((i % 2)) = 0 ]; then
		{
			"$RUNVM" --root "$root" run --bundle bundle "c$i" 2>&1 >"out.$i" </dev/null
			echo $? >"status.$i"
		} | tee "err.$i" | sha256sum >"err.$i.pipe"
	else
		{
			"$RUNVM" --root "$root" run --bundle bundle "c$i" 2>"err.$i" </dev/null
			echo $? >"status.$i"
		} | tee "out.$i" | sha256sum >"out.$i.pipe"
	fi
}

start=$(cut -d. -f1 /proc/uptime)
i=1
while [ $i -le $runs ]; do
	run_container $i
	status=$(cat "status.$i")
	out_pipe= err_pipe=
	[ -f "out.$i.pipe" ] && out_pipe=$(cat "out.$i.pipe")
	[ -f "err.$i.pipe" ] && err_pipe=$(cat "err.$i.pipe")
	ok=yes
	[ "$status" = 0 ] || { echo "--- c$i: run exit $status"; ok=no; }
	check "c$i stdout" "out.$i" expected.out "$out_pipe" || ok=no
	check "c$i stderr" "err.$i" expected.err "$err_pipe" || ok=no
	if [ $ok = yes ]; then
		echo "c$i: stdout $(wc -c <"out.$i") bytes, stderr $(wc -c <"err.$i") bytes, all there"
	else
		echo "c$i: FAILED"
		failed=$((failed + 1))
	fi
	rm -f "out.$i" "err.$i"
	i=$((i + 1))
done
echo "$runs containers in $(($(cut -d. -f1 /proc/uptime) - start)) s"
nothing_under "$root"
[ $failed = 0 ] || fail "$failed of $((runs + 2)) containers lost output"
echo "all output arrived"
