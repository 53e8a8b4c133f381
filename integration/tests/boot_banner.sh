# `runvm boot` with its embedded guest kernel and initramfs shows the user
# the guest kernel's banner and the guest init's ready line, and exits 0.
. "$TEST_LIB/guest.sh"
set -o pipefail

# Through tee: a hang still shows how far the guest got.
"$RUNVM" boot 2>&1 | tee boot.log
status=$?
echo "--- runvm boot exited $status"

[ "$status" = 0 ] || fail "runvm boot should exit 0"
grep -q "Linux version 6\.1" boot.log || fail "no 'Linux version 6.1' banner"
grep -q "runvm-init: ready" boot.log || fail "no 'runvm-init: ready' line"
