# podman run --rm: stdout is exactly what the container printed, stderr
# exactly what it wrote there (nothing of runvm's own).
. "$TEST_LIB/client.sh"
client_case "$1"

run_logged out podman --runtime "$RUNTIME" run --rm "$IMAGE" \
	sh -c 'echo hi; echo there; echo oops >&2'
expect_status $? 0 "podman run"
[ "$(cat out)" = "$(printf 'hi\nthere')" ] || fail "stdout is not exactly the container's"
[ "$(cat out.err)" = oops ] || fail "stderr is not exactly the container's"
