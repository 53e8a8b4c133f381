# docker stop: a process that ignores SIGTERM is killed at the timeout (exit
# 137), one that traps it ends with its own status; both within the time.
# timeout: 360
. "$TEST_LIB/client.sh"
client_case "$1"

# stop_case NAME SCRIPT STATUS: runs SCRIPT detached, stops it with a 5 s
# grace and checks docker inspect's exit code is STATUS.
stop_case() {
	run_logged id docker run -d --name "$1" --runtime "$RUNTIME" "$IMAGE" sh -c "$2"
	expect_status $? 0 "docker run -d"
	# The trap must be set before the signal comes.
	wait_until 60 grep -q ready "$(docker inspect -f '{{.LogPath}}' "$1")" ||
		fail "$1 did not start"
	before=$(cut -d. -f1 /proc/uptime)
	run_logged stop docker stop -t 5 "$1"
	status=$?
	took=$(($(cut -d. -f1 /proc/uptime) - before))
	echo "docker stop took ${took} s"
	code=$(docker inspect -f '{{.State.ExitCode}}' "$1")
	docker rm -f "$1" >/dev/null
	expect_status "$status" 0 "docker stop"
	[ "$took" -le 35 ] || fail "docker stop -t 5 took ${took} s"
	[ "$code" = "$3" ] || fail "$1 ended with $code, expected $3"
}

stop_case "$RUNTIME-stop-ignored" 'trap "" TERM; echo ready; while :; do sleep 1; done' 137
stop_case "$RUNTIME-stop-trapped" 'trap "exit 7" TERM; echo ready; while :; do sleep 1; done' 7
