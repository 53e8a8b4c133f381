# sh -c 'exit 3': docker run exits 3 and docker inspect says 3.
. "$TEST_LIB/client.sh"
client_case "$1"

name=$RUNTIME-exit-code
run_logged out docker run --name "$name" --runtime "$RUNTIME" "$IMAGE" sh -c 'exit 3'
expect_status $? 3 "docker run"
run_logged inspect docker inspect -f '{{.State.ExitCode}}' "$name"
expect_output inspect 3
run_logged rm docker rm "$name" || fail "docker rm of the exited container"
