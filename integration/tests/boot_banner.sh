# `runvm boot` with its embedded guest kernel and initramfs shows the user
# the guest kernel's banner and the guest init's ready line, and exits 0.

output=$("$RUNVM" boot 2>&1)
status=$?
echo "$output"
echo "--- runvm boot exited $status"

[ "$status" = 0 ] || { echo "FAIL: runvm boot should exit 0"; exit 1; }
echo "$output" | grep -q "Linux version 6\.1" || { echo "FAIL: no 'Linux version 6.1' banner"; exit 1; }
echo "$output" | grep -q "runvm-init: ready" || { echo "FAIL: no 'runvm-init: ready' line"; exit 1; }
