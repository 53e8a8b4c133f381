# podman pods: `podman pod create` (its infra container holds the pod's
# network, IPC and UTS namespaces) and two `podman run --pod` containers
# share localhost: the second reaches the first's server on 127.0.0.1
# (with runvm, from inside the infra container's VM: one boot id for all).
# Removing the pod leaves nothing of it.
. "$TEST_LIB/client.sh"
client_case "$1"

# The infra image: the busybox image with a /pause that sleeps, made once
# with runc (podman 4.3 would build its own from catatonit, which the
# client test host does not have).
pause=runvm-test/pause:latest
if ! podman image exists "$pause"; then
	podman --runtime runc run --name mkpause "$IMAGE" \
		sh -c 'printf "#!/bin/sh\nexec sleep 1000000\n" >/pause && chmod 755 /pause' &&
		podman commit -q mkpause "$pause" >/dev/null
	podman rm mkpause >/dev/null 2>&1
	podman image exists "$pause" || fail "could not make the infra image $pause"
fi

pod=$RUNTIME-pod
# --share-parent=false: podman 4.3 with cgroupfs on cgroup v2 makes the
# pod's cgroup deny every device, for runc as for runvm.
run_logged podid podman --runtime "$RUNTIME" pod create --name "$pod" --share-parent=false \
	--infra-image "$pause" --infra-command /pause
expect_status $? 0 "podman pod create"
run_logged id podman --runtime "$RUNTIME" run -d --pod "$pod" --name "$pod-server" "$IMAGE" \
	httpd -f -p 127.0.0.1:80 -h /www
expect_status $? 0 "podman run -d --pod (httpd on 127.0.0.1:80)"
wait_until 60 sh -c "podman exec $pod-server wget -q -O - http://127.0.0.1:80/ | grep -q '$HTTPD_PAGE'" ||
	{ podman pod rm -f "$pod" >/dev/null; fail "the server does not answer on its own 127.0.0.1 in 60 s"; }
run_logged boot podman exec "$pod-server" cat /proc/sys/kernel/random/boot_id
run_logged out podman --runtime "$RUNTIME" run --rm --pod "$pod" "$IMAGE" \
	sh -c 'wget -q -O - http://127.0.0.1:80/ && cat /proc/sys/kernel/random/boot_id'
status=$?
podman pod rm -f "$pod" >/dev/null
expect_status "$status" 0 "podman run --rm --pod"
grep -q "$HTTPD_PAGE" out || fail "the second container did not reach the first's server on 127.0.0.1"
grep -qx "$(cat boot)" out || fail "the second container's boot id is not the first's"
no_trace_of "$(cat podid)"
