# podman run -d, then podman logs shows what the container wrote.
. "$TEST_LIB/client.sh"
client_case "$1"

name=$RUNTIME-logs
run_logged id podman --runtime "$RUNTIME" run -d --name "$name" "$IMAGE" \
	sh -c 'echo to-stdout; echo to-stderr >&2; sleep 600'
expect_status $? 0 "podman run -d"
wait_until 60 sh -c "podman logs $name 2>&1 | grep -q to-stderr"
run_logged logs podman logs "$name"
status=$?
podman rm -f -t 0 "$name" >/dev/null
expect_status "$status" 0 "podman logs"
expect_output logs to-stdout
[ "$(cat logs.err)" = to-stderr ] || fail "podman logs did not give the container's stderr on stderr"
