# docker run -d, then docker logs shows what the container wrote, stdout
# and stderr apart.
. "$TEST_LIB/client.sh"
client_case "$1"

name=$RUNTIME-logs
run_logged id docker run -d --name "$name" --runtime "$RUNTIME" "$IMAGE" \
	sh -c 'echo to-stdout; echo to-stderr >&2; sleep 600'
expect_status $? 0 "docker run -d"
wait_until 60 grep -q to-stderr "$(docker inspect -f '{{.LogPath}}' "$name")"
run_logged logs docker logs "$name"
status=$?
docker rm -f "$name" >/dev/null
expect_status "$status" 0 "docker logs"
expect_output logs to-stdout
[ "$(cat logs.err)" = to-stderr ] || fail "docker logs did not give the container's stderr on stderr"
