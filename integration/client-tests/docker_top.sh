# docker top lists the container's process (its pid on this host, as
# docker inspect gives it) and nothing that is not the container's.
. "$TEST_LIB/client.sh"
client_case "$1"

name=$RUNTIME-top
run_logged id docker run -d --name "$name" --runtime "$RUNTIME" "$IMAGE" sleep 600
expect_status $? 0 "docker run -d"
id=$(cat id)
pid=$(docker inspect -f '{{.State.Pid}}' "$name")
echo "the container's pid: $pid"
run_logged top docker top "$name" -o pid,args
status=$?
docker rm -f "$name" >/dev/null
expect_status "$status" 0 "docker top"
rows=$(sed 1d top | awk '{ print $1 }')
[ -n "$rows" ] || fail "docker top listed no process"
echo "$rows" | grep -qx "$pid" || fail "docker top does not list the container's pid $pid"
if [ "$RUNTIME" = runc ]; then
	grep -q 'sleep 600' top || fail "docker top does not show the container's sleep"
fi
