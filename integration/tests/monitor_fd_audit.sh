# The monitor's jail, and an fd audit of a running container's monitor.
# The jail: its root holds only its container directory (with the share)
# and /proc/self/fd at the usual paths, read-only; every thread has no_new_privs; its
# open-file limit cannot be raised. The audit: every open fd points at an
# allowlisted kind of target (KVM, its eventfds and epoll, guest RAM, the
# monitor's sockets, its stdio (the container's), /dev/null, the
# container's own directory and share, and the /proc/self files the FUSE
# server resolves with), and every fd but stdio is close-on-exec, so a hook
# or anything else the monitor starts inherits none of them.
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
root=$PWD/root
make_bundle bundle 'echo started; while true; do sleep 0.1; done' || fail "could not make the bundle"
"$RUNVM" --root "$root" create --bundle bundle c1 >out 2>err </dev/null || { cat err; fail "create failed"; }
"$RUNVM" --root "$root" start c1 || fail "start failed"
wait_for started out 60
pid=$(monitor_pid "$root" c1)

top=$(ls -A /proc/$pid/root/ | sort | tr '\n' ' ')
echo "the monitor's root holds: $top"
[ "$top" = "$(printf '%s\n' proc "$(echo "$root" | cut -d/ -f2)" | sort | tr '\n' ' ')" ] \
	|| fail "the monitor's root should hold only /proc and its container directory's top directory"
[ "$(ls -A /proc/$pid/root/proc | tr '\n' ' ')" = "self " ] || fail "the jail's /proc should hold only self (its fds)"
[ -e /proc/$pid/root/proc/self/fd/0 ] || fail "the jail's /proc/self/fd does not list the monitor's fds"
[ -e /proc/$pid/root/etc ] && fail "the monitor still sees the host's /etc"
[ -e /proc/$pid/root/dev/kvm ] && fail "the monitor can still open /dev/kvm by path"
[ -e "/proc/$pid/root$root/c1/state.json" ] || fail "the monitor cannot reach its state in the jail"
[ -e "/proc/$pid/root$root/c1/share/rootfs/bin/busybox" ] || fail "the share's rootfs is not in the jail"
if (: >/proc/$pid/root/new-file) 2>/dev/null; then fail "the jail's root is writable"; fi
for task in /proc/$pid/task/*; do
	grep -q "^NoNewPrivs:[[:space:]]*1$" $task/status || fail "thread ${task##*/} ($(cat $task/comm)) lacks no_new_privs"
done
nofile=$(grep "^Max open files" /proc/$pid/limits)
echo "$nofile"
set -- $nofile
[ "$4" = "$5" ] || fail "the monitor may raise its open-file limit: $nofile"

# Every thread's working directory and root are the jail's: one left on
# the host (a thread that copied its fs state before the pivot) would
# reach host files by relative paths.
for task in /proc/$pid/task/*; do
	[ "$(readlink $task/cwd)" = / ] && [ "$(readlink $task/root)" = / ] \
		|| fail "thread ${task##*/} ($(cat $task/comm)) is in $(readlink $task/cwd) under root $(readlink $task/root)"
done

# Fds the monitor opened before it entered the jail (KVM, /dev/null) are
# in mounts the jail cut off: the host sees their paths from those mounts'
# roots, so they are recognised by device and inode. The FUSE server's
# /proc fds are of the monitor's own pid-only proc (no /proc/sys above
# them): paths from that proc's root, on a proc file system.
id_of() { stat -L -c '%d:%i' "$1" 2>/dev/null; }
allowed_ids=" $(id_of /dev/kvm) $(id_of /dev/null) "
stdio=" $(readlink /proc/$pid/fd/0) $(readlink /proc/$pid/fd/1) $(readlink /proc/$pid/fd/2) "
bad=""
for fd in /proc/$pid/fd/*; do
	n=${fd##*/}
	# The FUSE server opens and closes fds while it serves the guest: an fd
	# gone between the listing and the read was transient, not held.
	target=$(readlink "$fd" 2>/dev/null) || continue
	flags=$(sed -n 's/^flags:[[:space:]]*//p' /proc/$pid/fdinfo/$n 2>/dev/null)
	[ -n "$flags" ] || continue
	echo "fd $n -> $target (flags $flags)"
	case "$target" in
	/dev/kvm | anon_inode:kvm-vm | anon_inode:kvm-vcpu:* | "anon_inode:[eventfd]" | \
		"anon_inode:[eventpoll]" | "anon_inode:[timerfd]" | "anon_inode:[signalfd]" | \
		socket:\[*\] | pipe:\[*\] | /memfd:* | /dev/null | "$root"/c1 | "$root"/c1/*) ;;
	/$pid/fd | /$pid/mountinfo)
		[ "$(stat -f -L -c %T $fd)" = proc ] || bad="$bad fd $n -> $target is not on a proc file system;" ;;
	*) case "$stdio$allowed_ids" in
		*" $target "* | *" $(id_of $fd) "*) ;;
		*) bad="$bad fd $n -> $target;" ;;
		esac ;;
	esac
	# O_CLOEXEC is 02000000 (octal) in the flags fdinfo shows.
	if [ "$n" -gt 2 ] && [ $(( (0$flags >> 19) & 1 )) = 0 ]; then
		bad="$bad fd $n -> $target is not close-on-exec;"
	fi
done
"$RUNVM" --root "$root" delete --force c1 || fail "delete failed"
[ -z "$bad" ] || fail "the monitor holds:$bad"
