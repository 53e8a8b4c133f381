# docker rm -f of a running container leaves no state, mount or process.
. "$TEST_LIB/client.sh"
client_case "$1"

name=$RUNTIME-rm-force
run_logged id docker run -d --name "$name" --runtime "$RUNTIME" "$IMAGE" sleep 600
expect_status $? 0 "docker run -d"
id=$(cat id)
wait_until 60 sh -c "docker inspect -f '{{.State.Running}}' $name | grep -q true" ||
	fail "the container is not running"
run_logged rm docker rm -f "$name"
expect_status $? 0 "docker rm -f"
no_trace_of "$id"
