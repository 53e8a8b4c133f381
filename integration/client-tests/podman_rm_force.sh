# podman rm -f of a running container leaves no state, mount or process.
. "$TEST_LIB/client.sh"
client_case "$1"

name=$RUNTIME-rm-force
run_logged id podman --runtime "$RUNTIME" run -d --name "$name" "$IMAGE" sleep 600
expect_status $? 0 "podman run -d"
id=$(cat id)
run_logged rm podman rm -f "$name"
expect_status $? 0 "podman rm -f"
no_trace_of "$id"
