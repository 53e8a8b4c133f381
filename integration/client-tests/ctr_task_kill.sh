# ctr task kill, then task and container delete: the task stops with the
# signal's status (128 + 9) and nothing of it is left.
. "$TEST_LIB/client.sh"
client_case "$1"

name=$RUNTIME-kill
run_logged start ctr run -d --runc-binary "$RUNTIME_PATH" "$CTR_IMAGE" "$name" sleep 600
expect_status $? 0 "ctr run -d"
wait_until 60 sh -c "ctr task ls | grep '^$name ' | grep -q RUNNING" || fail "the task is not running"
run_logged kill ctr task kill -s SIGKILL "$name"
expect_status $? 0 "ctr task kill"
wait_until 60 sh -c "ctr task ls | grep '^$name ' | grep -q STOPPED" || fail "the task did not stop"
run_logged delete ctr task delete "$name"
expect_status $? 0 "ctr task delete"
# ctr warns of a task's non-zero status as it deletes it.
grep -q 'exit code 137' delete.err || fail "ctr task delete did not say the task ended with 137"
run_logged rm ctr container delete "$name"
expect_status $? 0 "ctr container delete"
no_trace_of "$name"
