# An fd audit of a running container's monitor: every open fd points at an
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
		socket:\[*\] | pipe:\[*\] | /memfd:* | /dev/null | "$root"/c1 | "$root"/c1/* | \
		/proc/$pid/fd | /proc/$pid/mountinfo) ;;
	*) case "$stdio" in
		*" $target "*) ;;
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
