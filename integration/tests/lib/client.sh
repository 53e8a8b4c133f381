# Helpers for the client test host (clienthost/setup.sh and the cases in
# client-tests/): `. "$TEST_LIB/client.sh"`, then in a case
# `client_case "$1"` with the runtime, runc or runvm, as its argument.

. "$TEST_LIB/guest.sh"

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# The setup's log, the daemons' logs, runvm's argv log, the ready mark.
CLIENTHOST_DIR=/run/clienthost
RUNVM_ARGV_LOG=$CLIENTHOST_DIR/runvm-argv.log
# The image every case runs: busybox, made by the setup (docker import,
# podman import; docker save into ctr images import), never pulled.
IMAGE=runvm-test/busybox:latest
CTR_IMAGE=docker.io/runvm-test/busybox:latest
# What the image's /www/index.html holds, for the port-mapping cases.
HTTPD_PAGE="runvm client test page"
# How long a client command may take before the case gives up on it.
CLIENT_TIMEOUT=180

# client_case RUNTIME: checks the setup is done and RUNTIME is runc or
# runvm; sets RUNTIME and RUNTIME_PATH (the binary ctr is given, the path
# docs/clients/ gives docker and podman for runvm).
client_case() {
	case "$1" in
	runc) RUNTIME_PATH=/usr/sbin/runc ;;
	runvm) RUNTIME_PATH=/usr/local/bin/runvm ;;
	*) fail "usage: sh $0 runc|runvm" ;;
	esac
	RUNTIME=$1
	if [ ! -e "$CLIENTHOST_DIR/ready" ]; then
		echo "--- the setup's log:"
		tail -20 "$CLIENTHOST_DIR/setup.log" 2>/dev/null
		fail "the client test host's setup did not finish (test clienthost_setup)"
	fi
	argv_lines_before=$(wc -l <"$RUNVM_ARGV_LOG")
	echo "runtime: $RUNTIME"
	[ -n "${RUNVM_TEST_RERUN:-}" ] && remove_every_container
}

# remove_every_container: what a case's first run left, gone before its
# rerun (testhost/init.sh reruns a case whose nested guest triple-faulted),
# so that the names it gives are free again: every docker container, podman
# pod and container, and containerd task and container.
remove_every_container() {
	echo "--- a rerun: removing the containers the first run left"
	docker ps -aq | xargs -r docker rm -f >/dev/null 2>&1
	podman pod rm -af >/dev/null 2>&1
	podman rm -af >/dev/null 2>&1
	for task in $(ctr tasks ls -q 2>/dev/null); do
		ctr tasks kill -s SIGKILL "$task" >/dev/null 2>&1
		ctr tasks rm -f "$task" >/dev/null 2>&1
	done
	ctr containers ls -q 2>/dev/null | xargs -r ctr containers rm >/dev/null 2>&1
}

# fail MESSAGE: as guest.sh's, and with runvm the argv of each runvm call
# this case made, so that a flag runvm does not know shows at once.
fail() {
	echo "FAIL: $*"
	if [ "${RUNTIME:-}" = runvm ]; then
		echo "--- runvm's calls in this case (time pid: argv):"
		tail -n "+$((argv_lines_before + 1))" "$RUNVM_ARGV_LOG"
	fi
	exit 1
}

# run_logged FILE COMMAND...: runs COMMAND (under CLIENT_TIMEOUT) with its
# stdout in FILE and its stderr in FILE.err, shows both, and returns its
# exit status.
run_logged() {
	local out=$1 status
	shift
	echo "\$ $*"
	timeout -s KILL "$CLIENT_TIMEOUT" "$@" >"$out" 2>"$out.err"
	status=$?
	cat "$out"
	[ -s "$out.err" ] && sed 's/^/stderr: /' "$out.err"
	echo "(exit $status)"
	return "$status"
}

# expect_output FILE TEXT: fails unless FILE holds exactly TEXT (and a
# final newline).
expect_output() {
	[ "$(cat "$1")" = "$2" ] && [ "$(tail -c 1 "$1" | od -An -c | tr -d ' ')" = '\n' ] ||
		fail "expected exactly '$2' on stdout"
}

# expect_status ACTUAL EXPECTED WHAT: fails unless ACTUAL = EXPECTED.
expect_status() {
	[ "$1" = "$2" ] || fail "$3: exit status $1, expected $2"
}

# wait_until SECONDS COMMAND...: retries COMMAND (quietly) every half
# second until it succeeds; returns 1 after SECONDS.
wait_until() {
	tries=$(($1 * 2))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$tries" -gt 0 ] || return 1
		sleep 0.5
		tries=$((tries - 1))
	done
}

# no_trace_of ID: fails if, 10 s after the container's removal returned,
# anything on this host still names container ID: a process (a runtime, a
# shim, a monitor), a mount, a file under /run (a runtime's state).
no_trace_of() {
	wait_until 10 nothing_names "$1"
	nothing_names "$1" || fail "$trace"
}

# nothing_names ID: whether nothing names ID (see no_trace_of); if
# something does, says what in $trace.
nothing_names() {
	for cmdline in /proc/[0-9]*/cmdline; do
		if tr '\0' ' ' <"$cmdline" 2>/dev/null | grep -q "$1"; then
			pid=${cmdline#/proc/}
			trace="a process still names $1: ${pid%/cmdline}: $(tr '\0' ' ' <"$cmdline")"
			return 1
		fi
	done
	if grep -q "$1" /proc/self/mountinfo; then
		trace="a mount still names $1: $(grep "$1" /proc/self/mountinfo)"
		return 1
	fi
	left=$(find /run -name "*$1*" 2>/dev/null | head -5)
	if [ -n "$left" ]; then
		trace="a file under /run still names $1: $left"
		return 1
	fi
}
