# ctr run --rm --runc-binary R: the container's output, and its exit status
# as ctr's.
. "$TEST_LIB/client.sh"
client_case "$1"

run_logged out ctr run --rm --runc-binary "$RUNTIME_PATH" "$CTR_IMAGE" "$RUNTIME-run" \
	sh -c 'echo hi; exit 3'
expect_status $? 3 "ctr run"
expect_output out hi
