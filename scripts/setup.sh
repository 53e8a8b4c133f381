#!/bin/sh
# Installs what building and testing runvm needs on Debian 12, as root:
# the guest kernel's source and build tools, QEMU (the nested test host on
# machines whose /dev/kvm cannot boot a stock guest) and busybox (the test
# host's userland), and cargo-deny (the supply-chain test checks the
# dependency tree against deny.toml with it). Rust itself comes from rustup.
# The network tests carry iproute2, iptables and the CNI plugins into the
# test host; the client tests carry docker, containerd and podman (their
# binaries only: no daemon is started on this machine).
# The fuzz targets (scripts/fuzz.sh) need only build-essential's g++ (for
# libFuzzer): they build on stable Rust without cargo-fuzz.
set -eu
packages="linux-source-6.1 flex bison bc libelf-dev libssl-dev build-essential cpio xz-utils
qemu-system-x86 busybox-static runc
iproute2 iptables containernetworking-plugins
docker.io containerd podman conmon netavark"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi
# Built from crates.io, once (several minutes on 2 cores); the release
# series deny.toml is written for.
if ! cargo deny --version >/dev/null 2>&1; then
    cargo install --locked cargo-deny --version '^0.20'
fi
echo "runvm build dependencies are installed"
