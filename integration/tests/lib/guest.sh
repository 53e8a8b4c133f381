# Helpers the end-to-end scripts source: `. "$TEST_LIB/guest.sh"`.

# fail MESSAGE: the test fails with MESSAGE.
fail() {
	echo "FAIL: $*"
	exit 1
}

# busybox_initrd: writes busybox.cpio in the working directory, an archive
# with busybox and its applets under /bin to unpack over the guest's
# initramfs (`runvm boot --extra-initrd`), and prints its path.
busybox_initrd() {
	rm -rf bbroot && mkdir -p bbroot/bin || return 1
	cp "$BUSYBOX" bbroot/bin/busybox || return 1
	for applet in sh cat echo sleep tty stty sha256sum head wc true false kill ls; do
		ln -s busybox "bbroot/bin/$applet"
	done
	(cd bbroot && find . | cpio -o -H newc 2>/dev/null) >busybox.cpio || return 1
	echo "$PWD/busybox.cpio"
}

# wait_for PATTERN FILE SECONDS: waits until FILE has a line matching
# PATTERN; fails the test after SECONDS.
wait_for() {
	pattern=$1 file=$2 seconds=$3
	tries=$((seconds * 10))
	while [ "$tries" -gt 0 ]; do
		grep -q "$pattern" "$file" 2>/dev/null && return 0
		sleep 0.1
		tries=$((tries - 1))
	done
	echo "--- $file:"
	cat "$file" 2>/dev/null
	fail "no line matching '$pattern' in $file after ${seconds}s"
}

# alive PID: whether PID is a live (not zombie) process. One read of
# status: a process that ends between two reads is not alive.
alive() {
	local state
	state=$(grep '^State:' "/proc/$1/status" 2>/dev/null) || return 1
	case "$state" in *Z*) return 1;; esac
}
