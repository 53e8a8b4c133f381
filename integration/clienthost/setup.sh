# The client test host's setup, run once per boot before the client cases
# (client-tests/*.sh): starts containerd and dockerd, configures podman,
# installs runvm where docs/clients/ says it is (a wrapper logging each
# call's argv), and makes the busybox image the cases run, in all three
# clients. The configuration files are the README's (docs/clients/). The
# cases check for /run/clienthost/ready; on failure they show this log.
# timeout: 480
. "$TEST_LIB/client.sh"

started=$(cut -d. -f1 /proc/uptime)
step() { echo "--- $(($(cut -d. -f1 /proc/uptime) - started)) s: $*"; }

setup() {
	step "the host's files"
	mkdir -p /var/lib /var/tmp /etc/docker /etc/containerd /etc/containers /usr/local/bin
	[ -e /var/run ] || ln -s /run /var/run
	echo "127.0.0.1 localhost" >/etc/hosts
	echo "nameserver 127.0.0.1" >/etc/resolv.conf
	echo "root:x:0:0:root:/root:/bin/sh" >/etc/passwd
	echo "root:x:0:" >/etc/group
	# Docker's bridge forwards between interfaces.
	echo 1 >/proc/sys/net/ipv4/ip_forward
	iptables -V || fail "iptables does not run"
	iptables -t nat -L -n >/dev/null || fail "iptables cannot list the nat table"

	step "runvm at /usr/local/bin/runvm (the documented path): logs its argv, then execs $RUNVM"
	cat >/usr/local/bin/runvm <<-EOF
	#!/bin/sh
	# Each call's argv, one line, for a failing case to show; then runvm itself,
	# with the same pid, stdio and exit status.
	echo "\$(date +%T) \$\$: \$*" >>$RUNVM_ARGV_LOG
	exec $RUNVM "\$@"
	EOF
	chmod 755 /usr/local/bin/runvm
	: >"$RUNVM_ARGV_LOG"

	step "containerd with docs/clients/containerd-config.toml"
	cp "$CLIENT_DOCS/containerd-config.toml" /etc/containerd/config.toml
	setsid containerd >"$CLIENTHOST_DIR/containerd.log" 2>&1 </dev/null &
	wait_until 60 ctr version ||
		{ tail -20 "$CLIENTHOST_DIR/containerd.log"; fail "containerd did not answer in 60 s"; }
	containerd config dump >containerd-config.dump || fail "containerd config dump failed"
	grep -q 'BinaryName = "/usr/local/bin/runvm"' containerd-config.dump ||
		fail "containerd did not take the runvm runtime from docs/clients/containerd-config.toml"

	step "dockerd with docs/clients/daemon.json"
	cp "$CLIENT_DOCS/daemon.json" /etc/docker/daemon.json
	setsid dockerd --containerd /run/containerd/containerd.sock --storage-driver overlay2 \
		>"$CLIENTHOST_DIR/dockerd.log" 2>&1 </dev/null &
	wait_until 120 docker version ||
		{ tail -30 "$CLIENTHOST_DIR/dockerd.log"; fail "dockerd did not answer in 120 s"; }
	docker info --format '{{json .Runtimes}}' | grep -q '/usr/local/bin/runvm' ||
		fail "dockerd did not take the runvm runtime from docs/clients/daemon.json"

	step "podman with docs/clients/containers.conf"
	# What this test host needs (no systemd, no journald), then the README's file.
	cat >/etc/containers/containers.conf <<-EOF
	[containers]
	log_driver = "k8s-file"

	[engine]
	# Podman's own default, crun, is not here; each case names its runtime.
	runtime = "runc"
	cgroup_manager = "cgroupfs"
	events_logger = "file"

	[network]
	network_backend = "netavark"

	EOF
	cat "$CLIENT_DOCS/containers.conf" >>/etc/containers/containers.conf
	cat >/etc/containers/storage.conf <<-EOF
	[storage]
	driver = "overlay"
	runroot = "/run/containers/storage"
	graphroot = "/var/lib/containers/storage"
	EOF
	podman info --format '{{.Host.OCIRuntime.Name}}' || fail "podman info failed"

	step "the busybox image: $IMAGE (docker, podman), $CTR_IMAGE (containerd)"
	mkdir -p rootfs/bin rootfs/etc rootfs/proc rootfs/sys rootfs/dev rootfs/tmp rootfs/root rootfs/www
	cp "$BUSYBOX" rootfs/bin/busybox
	for applet in $("$BUSYBOX" --list); do
		[ "$applet" = busybox ] || ln -s busybox "rootfs/bin/$applet"
	done
	echo "$HTTPD_PAGE" >rootfs/www/index.html
	tar -C rootfs -cf busybox.tar . || fail "packing the rootfs"
	docker import -c 'ENV PATH=/bin' busybox.tar "$IMAGE" || fail "docker import"
	podman import -c 'ENV PATH=/bin' busybox.tar "$IMAGE" || fail "podman import"
	docker save "$IMAGE" >image.tar || fail "docker save"
	ctr images import image.tar || fail "ctr images import"
	ctr images ls -q | grep -qx "$CTR_IMAGE" || fail "containerd has no $CTR_IMAGE: $(ctr images ls -q)"

	step "ready"
	touch "$CLIENTHOST_DIR/ready"
}

mkdir -p "$CLIENTHOST_DIR"
set -o pipefail
setup 2>&1 | tee "$CLIENTHOST_DIR/setup.log"
