# docker run -p: a port of the test host reaches a busybox httpd in the
# container.
. "$TEST_LIB/client.sh"
client_case "$1"

name=$RUNTIME-port-map
run_logged id docker run -d --name "$name" -p 8080:80 --runtime "$RUNTIME" "$IMAGE" \
	httpd -f -p 80 -h /www
expect_status $? 0 "docker run -d -p 8080:80"
wait_until 60 sh -c "wget -q -O - http://127.0.0.1:8080/ | grep -q '$HTTPD_PAGE'"
status=$?
run_logged page wget -q -O - http://127.0.0.1:8080/
docker rm -f "$name" >/dev/null
[ "$status" = 0 ] || fail "no page from 127.0.0.1:8080 in 60 s"
