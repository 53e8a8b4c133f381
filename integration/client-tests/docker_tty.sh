# docker run -t: the process's stdio is a terminal, a /dev/pts one.
. "$TEST_LIB/client.sh"
client_case "$1"

run_logged out docker run --rm -t --runtime "$RUNTIME" "$IMAGE" tty
expect_status $? 0 "docker run -t"
tr -d '\r' <out | grep -qx '/dev/pts/[0-9]*' || fail "tty did not print a /dev/pts path"
