# docker exec into a running container: output and exit status, and -t.
. "$TEST_LIB/client.sh"
client_case "$1"

name=$RUNTIME-exec
run_logged id docker run -d --name "$name" --runtime "$RUNTIME" "$IMAGE" sleep 600
expect_status $? 0 "docker run -d"
run_logged out docker exec "$name" sh -c 'echo from-exec; exit 5'
status=$?
run_logged tty docker exec -t "$name" tty
tty_status=$?
docker rm -f "$name" >/dev/null
expect_status "$status" 5 "docker exec"
expect_output out from-exec
expect_status "$tty_status" 0 "docker exec -t"
tr -d '\r' <tty | grep -qx '/dev/pts/[0-9]*' || fail "tty in docker exec -t did not print a /dev/pts path"
