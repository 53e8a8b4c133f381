# sh -c 'exit 3': podman run exits 3 and podman inspect says 3.
. "$TEST_LIB/client.sh"
client_case "$1"

name=$RUNTIME-exit-code
run_logged out podman --runtime "$RUNTIME" run --name "$name" "$IMAGE" sh -c 'exit 3'
expect_status $? 3 "podman run"
run_logged inspect podman inspect -f '{{.State.ExitCode}}' "$name"
expect_output inspect 3
run_logged rm podman rm "$name" || fail "podman rm of the exited container"
