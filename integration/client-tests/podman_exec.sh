# podman exec into a running container: output and exit status, and -t.
. "$TEST_LIB/client.sh"
client_case "$1"

name=$RUNTIME-exec
run_logged id podman --runtime "$RUNTIME" run -d --name "$name" "$IMAGE" sleep 600
expect_status $? 0 "podman run -d"
run_logged out podman exec "$name" sh -c 'echo from-exec; exit 5'
status=$?
run_logged tty podman exec -t "$name" tty
tty_status=$?
podman rm -f -t 0 "$name" >/dev/null
expect_status "$status" 5 "podman exec"
expect_output out from-exec
expect_status "$tty_status" 0 "podman exec -t"
tr -d '\r' <tty | grep -qx '/dev/pts/[0-9]*' || fail "tty in podman exec -t did not print a /dev/pts path"
