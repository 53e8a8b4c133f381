# Helpers for OCI bundles: `. "$TEST_LIB/bundle.sh"` (after guest.sh).

# json_string TEXT: TEXT (one line) as a JSON string literal.
json_string() {
	printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"
}

# Every capability (as `docker run --privileged` gives): a process spec
# without capabilities gets none, as under runc.
ALL_CAPS='"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"'

# make_bundle DIR COMMAND [EXTRA_MOUNTS_JSON]: a bundle whose rootfs has
# busybox and whose process is `sh -c COMMAND`, with the mounts docker
# gives a container (plus EXTRA_MOUNTS_JSON, a comma-led list, if given),
# and every capability.
make_bundle() {
	dir=$1 command=$2 extra=${3:-}
	busybox_rootfs "$dir" sh cat echo sleep tty stty ls mkdir chown stat id hostname mount \
		touch rm ln mknod head wc true false kill grep sha256sum dd sync mv seq || return 1
	cat >"$dir/config.json" <<JSON
{
  "ociVersion": "1.2.0",
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": ["sh", "-c", $(json_string "$command")],
    "env": ["PATH=/bin", "TERM=xterm"],
    "cwd": "/",
    "capabilities": {"bounding": [$ALL_CAPS], "effective": [$ALL_CAPS], "permitted": [$ALL_CAPS]}
  },
  "root": {"path": "rootfs", "readonly": false},
  "hostname": "runvm-test",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}$extra
  ],
  "linux": {
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
    "maskedPaths": ["/proc/kcore", "/proc/keys"],
    "readonlyPaths": ["/proc/sys"]
  }
}
JSON
}

# busybox_rootfs DIR APPLET...: DIR/rootfs with /etc, /tmp and busybox in
# /bin, each APPLET a link to it.
busybox_rootfs() {
	rootfs=$1/rootfs
	shift
	mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" || return 1
	cp "$BUSYBOX" "$rootfs/bin/busybox" || return 1
	for applet in "$@"; do
		[ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet" || return 1
	done
}

# annotate BUNDLE KEY VALUE: gives the spec of a bundle make_bundle wrote
# (which has no annotations) the annotation KEY=VALUE.
annotate() {
	sed -i "s|^  \"ociVersion\": \"1.2.0\",|&\n  \"annotations\": {\"$2\": \"$3\"},|" "$1/config.json" &&
		grep -q "\"$2\": \"$3\"" "$1/config.json"
}

# nothing_under DIR: fails the test if DIR holds anything.
nothing_under() {
	left=$(ls -A "$1" 2>/dev/null)
	[ -z "$left" ] || fail "left behind under $1: $left"
}

# add_vmctl ROOTFS: copies $VMCTL to ROOTFS/bin/vmctl with the shared
# libraries it loads (the dynamic loader lists them, which is what ldd
# does), so the container can run it.
add_vmctl() {
	cp "$VMCTL" "$1/bin/vmctl" || return 1
	libs=$(LD_TRACE_LOADED_OBJECTS=1 "$VMCTL" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
	[ -n "$libs" ] || return 1
	for lib in $libs; do
		mkdir -p "$1${lib%/*}" && cp "$lib" "$1$lib" || return 1
	done
}

# monitor_pid ROOT ID: the container's pid (its monitor's) from `runvm state`.
monitor_pid() {
	"$RUNVM" --root "$1" state "$2" | sed -n 's/.*"pid": \([0-9]*\),.*/\1/p'
}

# wait_stopped ROOT ID SECONDS: waits until `runvm state` says stopped;
# fails the test after SECONDS.
wait_stopped() {
	tries=$(($3 * 10))
	while ! "$RUNVM" --root "$1" state "$2" | grep -q '"status": "stopped"'; do
		[ "$tries" -gt 0 ] || fail "container $2 not stopped after $3 s"
		sleep 0.1
		tries=$((tries - 1))
	done
}
