# A container, runvm against runc, same bundle (busybox rootfs), same
# machine. `run` of /bin/true, create -> exit -> delete, timed by `vmctl
# time`, with runvm's timing marks on (RUNVM_TIMING: the CLI, the monitor,
# the VMM and the guest each append "<ns> <pid> <stage>" lines; one write
# per mark), giving the stage breakdown: each stage's time since the CLI
# started. Then an idle container's host memory: the drop in MemAvailable
# for a first and a second container (neither runtime has a shim here),
# and the runvm monitor's RSS and PSS split by mapping (guest RAM, the
# binary it runs from, the rest). Needs RUNC and VMCTL besides the usual
# variables. Inside the test host the times carry TCG's overhead; compare
# the columns. With BASELINE_RUNVM (another runvm binary, an earlier
# build) the same `run`, its stages and the first idle container are
# measured with it too.
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
. "$TEST_LIB/bench.sh"

runs=5
make_bundle bundle 'true' || fail "could not make the bundle"
sed -i 's|"args": \[.*\]|"args": ["/bin/true"]|' bundle/config.json
grep -q '"args": \["/bin/true"\]' bundle/config.json || fail "could not set the bundle's args"
make_bundle idle 'echo started; exec sleep 1000' || fail "could not make the idle bundle"

echo "run /bin/true, create -> exit -> delete, in ms ($runs runs each)"
printf "%-8s %10s %10s\n" run runvm runc
# timed_run NAME RUNTIME ROOT ID [MARKS]: sets ms to the time of `RUNTIME
# run` of the bundle, and appends it to NAME.ms; runvm's timing marks go
# to MARKS if given.
timed_run() {
	seconds=$(RUNVM_TIMING="${5:-}" "$VMCTL" time "$2" --root "$3" run --bundle bundle "$4" </dev/null) \
		|| fail "$1 run failed"
	ms=$(awk -v s="$seconds" 'BEGIN { printf "%.1f", s * 1000 }')
	echo "$ms" >>"$1.ms"
}
# With a baseline the two runvm builds take turns going first: where a
# VM's boot falls in the sequence changes its time in the nested test
# host (the same binary ran 1.25x faster in the baseline's slot, third
# after runc, than in the first).
baseline_run() {
	timed_run baseline "$BASELINE_RUNVM" "$PWD/baseline-root" "b$run" "$PWD/baseline-marks.$run"
	baseline_ms=$ms
}
run=1
while [ "$run" -le "$runs" ]; do
	if [ -n "${BASELINE_RUNVM:-}" ] && [ $((run % 2)) = 0 ]; then
		baseline_run
	fi
	timed_run runvm "$RUNVM" "$PWD/runvm-root" "v$run" "$PWD/marks.$run"
	runvm_ms=$ms
	timed_run runc "$RUNC" "$PWD/runc-root" "c$run"
	runc_ms=$ms
	if [ -n "${BASELINE_RUNVM:-}" ] && [ $((run % 2)) = 1 ]; then
		baseline_run
	fi
	printf "%-8s %10s %10s" "$run" "$runvm_ms" "$runc_ms"
	if [ -n "${BASELINE_RUNVM:-}" ]; then
		printf " %10s (baseline)" "$baseline_ms"
	fi
	echo
	run=$((run + 1))
done
printf "%-8s %10s %10s\n" median "$(median runvm.ms)" "$(median runc.ms)"
row run "run /bin/true, create -> exit -> delete" ms runvm.ms "runc" runc.ms
if [ -n "${BASELINE_RUNVM:-}" ]; then
	row run "run /bin/true, create -> exit -> delete" ms runvm.ms "runvm baseline ($BASELINE_RUNVM)" baseline.ms
fi

# The stage breakdown: per run, each stage's first mark (the last for
# device activation: all devices are up) in ms since the CLI's start.
for run in $(seq 1 $runs); do
	echo "timing marks of run $run:"
	cat "marks.$run"
done
# stage_times MARKS...: stages.tsv, one "stage<TAB>ms since CLI start"
# line per stage and run.
stage_times() {
	: >stages.tsv
	for marks in "$@"; do
		awk '
			{ stage = $3; for (i = 4; i <= NF; i++) stage = stage " " $i }
			stage == "cli start" && !start { start = $1 }
			stage == "virtio device activated" || !(stage in at) { at[stage] = $1 }
			END { for (s in at) if (s != "cli start") printf "%s\t%.1f\n", s, (at[s] - start) / 1e6 }
		' "$marks" >>stages.tsv
	done
}
# stage_rows GROUP PREFIX MARKS...: one row per stage (named PREFIX and
# the stage), in the order of their median time, from the mark files of
# the runs.
stage_rows() {
	group=$1
	prefix=$2
	shift 2
	stage_times "$@"
	cut -f1 stages.tsv | sort -u | while read -r stage; do
		awk -F '\t' -v s="$stage" '$1 == s { print $2 }' stages.tsv >stage.values
		printf '%s\t%s\n' "$(median stage.values)" "$stage"
	done | sort -n | while IFS="$(printf '\t')" read -r _ stage; do
		awk -F '\t' -v s="$stage" '$1 == s { print $2 }' stages.tsv >stage.values
		row "$group" "$prefix$stage" "ms since CLI start" stage.values
	done
}
stage_rows stages "" marks.*
if [ -n "${BASELINE_RUNVM:-}" ]; then
	stage_rows "baseline stages" "baseline: " baseline-marks.*
fi

# The first output byte: /bin/true writes none, so the same bundle running
# /bin/echo marks when the monitor's relay passes the container's first
# byte on.
cp -r bundle echo
sed -i 's|"args": \[.*\]|"args": ["/bin/echo", "first"]|' echo/config.json
for run in $(seq 1 $runs); do
	RUNVM_TIMING="$PWD/echo-marks.$run" "$RUNVM" --root "$PWD/runvm-root" run --bundle echo "e$run" \
		</dev/null >echo.out || fail "runvm run of /bin/echo failed"
	[ "$(cat echo.out)" = first ] || fail "runvm run of /bin/echo printed $(cat echo.out)"
done
stage_times echo-marks.*
awk -F '\t' '$1 == "first stream byte relayed" { print $2 }' stages.tsv >first-byte.values
[ "$(wc -l <first-byte.values)" = "$runs" ] || fail "not every run of /bin/echo marked its first output byte"
row output "first output byte relayed (the bundle running /bin/echo)" "ms since CLI start" first-byte.values

# start_idle RUNTIME ROOT ID: starts an idle container with RUNTIME and prints
# what it costs the host, as the drop in MemAvailable (processes, guest
# RAM touched, page tables, kernel objects, a sealed copy of runvm's binary if made)
# 2 s after its first line. The container keeps running.
start_idle() {
	sync
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
	before=$(avail_kib)
	"$1" --root "$2" run -d --bundle idle "$3" </dev/null >"$3.out" 2>&1 || fail "$1 run -d failed"
	wait_for started "$3.out" 60
	sleep 2
	after=$(avail_kib)
	echo $((before - after))
}
# monitor_memory ROOT ID: the monitor's Rss and Pss in KiB, split by
# mapping: "guest_rss guest_pss binary_rss binary_pss other_rss other_pss
# threads" (guest RAM is the memfd runvm-guest-ram; the binary is what the
# monitor runs from: runvm on disk through a read-only overlay, shown by
# its path on disk or in the overlay, or a sealed memfd copy,
# /memfd:runvm).
monitor_memory() {
	pid=$(monitor_pid "$1" "$2")
	[ -n "$pid" ] || fail "no monitor pid for $2"
	exe=$(readlink "/proc/$pid/exe")
	awk -v disk="$RUNVM" -v exe="${exe% (deleted)}" '
		/^[0-9a-f]+-[0-9a-f]+ / {
			kind = "other"
			if ($0 ~ /runvm-guest-ram/) kind = "guest"
			else if ($6 == disk || $6 == exe || $6 == "/memfd:runvm") kind = "binary"
		}
		$1 == "Rss:" { rss[kind] += $2 }
		$1 == "Pss:" { pss[kind] += $2 }
		END { printf "%d %d %d %d %d %d", rss["guest"], pss["guest"], rss["binary"], pss["binary"], rss["other"], pss["other"] }
	' "/proc/$pid/smaps"
	echo " $(sed -n 's/^Threads:[[:space:]]*//p' "/proc/$pid/status")"
}
# The first container of a runtime, then a second beside it (where runvm
# falls back to a sealed copy of its binary, kernel and initramfs
# included, the first monitor makes it and later ones under the same
# --root share it).
if [ -n "${BASELINE_RUNVM:-}" ]; then
	baseline_first=$(start_idle "$BASELINE_RUNVM" "$PWD/baseline-idle" bi1)
	"$BASELINE_RUNVM" --root "$PWD/baseline-idle" delete --force bi1 || fail "baseline runvm delete failed"
fi
runvm_first=$(start_idle "$RUNVM" "$PWD/runvm-idle" vi1)
runvm_second=$(start_idle "$RUNVM" "$PWD/runvm-idle" vi2)
mem1=$(monitor_memory "$PWD/runvm-idle" vi1)
mem2=$(monitor_memory "$PWD/runvm-idle" vi2)
echo "monitor memory, KiB (guest rss/pss, binary rss/pss, other rss/pss, threads): first $mem1; second $mem2"
"$RUNVM" --root "$PWD/runvm-idle" delete --force vi1 && "$RUNVM" --root "$PWD/runvm-idle" delete --force vi2 \
	|| fail "runvm delete failed"
runc_first=$(start_idle "$RUNC" "$PWD/runc-idle" ci1)
runc_second=$(start_idle "$RUNC" "$PWD/runc-idle" ci2)
"$RUNC" --root "$PWD/runc-idle" delete --force ci1 && "$RUNC" --root "$PWD/runc-idle" delete --force ci2 \
	|| fail "runc delete failed"
echo "host memory an idle container costs (drop in MemAvailable, KiB; the VM has 256 MiB)"
printf "%-8s %10s %10s\n" "" runvm runc
printf "%-8s %10s %10s\n" first "$runvm_first" "$runc_first"
printf "%-8s %10s %10s\n" second "$runvm_second" "$runc_second"
row_values memory "idle container, first: host memory (MemAvailable drop)" KiB "$runvm_first" runc "$runc_first"
row_values memory "idle container, second: host memory (MemAvailable drop)" KiB "$runvm_second" runc "$runc_second"
if [ -n "${BASELINE_RUNVM:-}" ]; then
	row_values memory "idle container, first: host memory (MemAvailable drop)" KiB "$runvm_first" \
		"runvm baseline" "$baseline_first"
fi
for which in first second; do
	[ "$which" = first ] && set -- $mem1 || set -- $mem2
	row_values memory "$which monitor: RSS beyond guest RAM" KiB "$(($3 + $5))"
	row_values memory "$which monitor: PSS beyond guest RAM" KiB "$(($4 + $6))"
	row_values memory "$which monitor: guest RAM touched (RSS)" KiB "$1"
	row_values memory "$which monitor: binary pages (RSS)" KiB "$3"
	row_values memory "$which monitor: binary pages (PSS)" KiB "$4"
	row_values memory "$which monitor: heap, stacks, buffers (RSS)" KiB "$5"
	row_values memory "$which monitor: threads" count "$7"
done
