# podman run -t: the process's stdio is a /dev/pts terminal.
. "$TEST_LIB/client.sh"
client_case "$1"

run_logged out podman --runtime "$RUNTIME" run --rm -t "$IMAGE" tty
expect_status $? 0 "podman run -t"
tr -d '\r' <out | grep -qx '/dev/pts/[0-9]*' || fail "tty did not print a /dev/pts path"
