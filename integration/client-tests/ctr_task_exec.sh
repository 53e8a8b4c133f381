# ctr task exec into a running task: output and exit status.
. "$TEST_LIB/client.sh"
client_case "$1"

name=$RUNTIME-exec
run_logged start ctr run -d --runc-binary "$RUNTIME_PATH" "$CTR_IMAGE" "$name" sleep 600
expect_status $? 0 "ctr run -d"
run_logged out ctr task exec --exec-id probe "$name" sh -c 'echo from-exec; exit 4'
status=$?
ctr task kill -s SIGKILL "$name"
wait_until 60 sh -c "ctr task ls | grep '^$name ' | grep -q STOPPED"
ctr task delete "$name"
ctr container delete "$name"
expect_status "$status" 4 "ctr task exec"
expect_output out from-exec
