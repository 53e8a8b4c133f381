# docker run --network container:A: the second container shares A's
# network and reaches A's server on 127.0.0.1 (with runvm, from inside A's
# VM: the same boot id). Removing both leaves nothing of either.
. "$TEST_LIB/client.sh"
client_case "$1"

name=$RUNTIME-netshare
run_logged id docker run -d --name "$name" --runtime "$RUNTIME" "$IMAGE" \
	httpd -f -p 127.0.0.1:80 -h /www
expect_status $? 0 "docker run -d (httpd on 127.0.0.1:80)"
id=$(cat id)
wait_until 60 sh -c "docker exec $name wget -q -O - http://127.0.0.1:80/ | grep -q '$HTTPD_PAGE'" ||
	{ docker rm -f "$name" >/dev/null; fail "A's server does not answer on its own 127.0.0.1 in 60 s"; }
run_logged boot docker exec "$name" cat /proc/sys/kernel/random/boot_id
run_logged out docker run --rm --network "container:$name" --runtime "$RUNTIME" "$IMAGE" \
	sh -c 'wget -q -O - http://127.0.0.1:80/ && cat /proc/sys/kernel/random/boot_id'
status=$?
run_logged after docker exec "$name" wget -q -O - http://127.0.0.1:80/
after=$?
docker rm -f "$name" >/dev/null
expect_status "$status" 0 "docker run --network container:$name"
grep -q "$HTTPD_PAGE" out || fail "the second container did not reach A's server on 127.0.0.1"
grep -qx "$(cat boot)" out || fail "the second container's boot id is not A's"
expect_status "$after" 0 "A's server after the second container went"
no_trace_of "$id"
