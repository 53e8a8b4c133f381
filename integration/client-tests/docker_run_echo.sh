# docker run --rm --runtime R IMAGE echo hi prints hi, and nothing else.
. "$TEST_LIB/client.sh"
client_case "$1"

run_logged out docker run --rm --runtime "$RUNTIME" "$IMAGE" echo hi
expect_status $? 0 "docker run"
expect_output out hi
