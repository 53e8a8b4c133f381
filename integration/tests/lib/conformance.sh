# Helpers for the conformance cases (`conformance/*.sh`), each run once
# with runc and once with runvm: `. "$TEST_LIB/conformance.sh"` (after
# guest.sh and bundle.sh), then `conformance_case "$1"`.

# conformance_case RUNTIME: RUNTIME is runc or runvm; sets RUNTIME_PATH.
conformance_case() {
	case ${1:-} in
	runc) RUNTIME_PATH=$RUNC ;;
	runvm) RUNTIME_PATH=$RUNVM ;;
	*) fail "usage: $0 runc|runvm" ;;
	esac
	RUNTIME=$1
	echo "runtime: $RUNTIME ($RUNTIME_PATH)"
}

# rt ARGS...: the runtime, with a state directory of the case's own.
rt() {
	"$RUNTIME_PATH" --root "$PWD/root" "$@"
}

# spec_bundle DIR COMMAND LINUX [MOUNTS] [PROCESS] [TOP]: a bundle whose
# rootfs has busybox with all its applets and whose process is `sh -c
# COMMAND` as root with every capability. LINUX is the body of the
# `linux` object; MOUNTS (a comma-led list) follows the mounts of runc's
# default spec; PROCESS and TOP (comma-led) add to `process` and to the
# top level.
spec_bundle() {
	dir=$1 command=$2 linux=$3 mounts=${4:-} process=${5:-} top=${6:-}
	busybox_rootfs "$dir" $("$BUSYBOX" --list) || return 1
	cat >"$dir/config.json" <<JSON
{
  "ociVersion": "1.2.0",
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": ["sh", "-c", $(json_string "$command")],
    "env": ["PATH=/bin"],
    "cwd": "/",
    "capabilities": {"bounding": [$ALL_CAPS], "effective": [$ALL_CAPS], "permitted": [$ALL_CAPS]}$process
  },
  "root": {"path": "rootfs", "readonly": false}$top,
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}$mounts
  ],
  "linux": {$linux}
}
JSON
}

# run_container ID BUNDLE: runs the container to its end, its stdout in
# ID.out (shown); fails the test if it does not exit 0.
run_container() {
	rt run --bundle "$2" "$1" >"$1.out" 2>"$1.err" </dev/null
	status=$?
	echo "--- $1 (exit $status):"
	cat "$1.out" "$1.err"
	[ "$status" = 0 ] || fail "container $1 exited $status"
	rt delete "$1" >/dev/null 2>&1
}
