#!/bin/sh
# Installs what building and testing runvm needs on Debian 12, as root:
# the guest kernel's source and build tools, QEMU (the nested test host on
# machines whose /dev/kvm cannot boot a stock guest) and busybox (the test
# host's userland). Rust itself comes from rustup.
set -eu
packages="linux-source-6.1 flex bison bc libelf-dev libssl-dev build-essential cpio xz-utils
qemu-system-x86 busybox-static"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi
echo "runvm build dependencies are installed"
