# The README's first command: an OCI bundle with busybox, run with
# `runvm run` in its own microVM.
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
make_bundle bundle 'echo "hello from a container in a runvm microVM"; echo "kernel: $(cat /proc/version)"; echo "hostname: $(hostname)"' \
	|| fail "could not make the bundle"
echo "\$ runvm run --bundle bundle demo"
"$RUNVM" --root "$PWD/root" run --bundle bundle demo </dev/null
