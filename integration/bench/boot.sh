# Boot time, runvm against QEMU: from process start to the guest init's
# "runvm-init: ready" line, same guest kernel, initramfs and command line
# (a container boot's, with `quiet`), 256 MiB, one vCPU, several runs
# each, alternating. Needs BOOT_TIMER and QEMU besides the usual
# variables. Inside the test host the absolute numbers carry the TCG
# overhead of the outer layer; only the comparison means something.
. "$TEST_LIB/bench.sh"

runs=5
ready="runvm-init: ready"
cmdline="console=ttyS0 reboot=k panic=-1 8250.nr_uarts=1 nomodule quiet"

echo "boot to \"$ready\" in ms ($runs runs each; kernel $GUEST_KERNEL, 256 MiB, 1 vCPU, \"$cmdline\")"
printf "%-8s %10s %10s\n" run runvm qemu
run=1
while [ "$run" -le "$runs" ]; do
	runvm_ms=$("$BOOT_TIMER" "$ready" "$RUNVM" boot --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRAMFS" \
		--memory 256 --cpus 1 --cmdline "$cmdline") || exit 1
	qemu_ms=$("$BOOT_TIMER" "$ready" "$QEMU" -M microvm,x-option-roms=off,isa-serial=on,rtc=off \
		-enable-kvm -cpu host -m 256 -smp 1 -nodefaults -no-user-config -nographic -serial stdio \
		-no-reboot -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRAMFS" \
		-append "$cmdline") || exit 1
	printf "%-8s %10s %10s\n" "$run" "$runvm_ms" "$qemu_ms"
	echo "$runvm_ms" >>runvm.ms
	echo "$qemu_ms" >>qemu.ms
	run=$((run + 1))
done
printf "%-8s %10s %10s\n" median "$(median runvm.ms)" "$(median qemu.ms)"
row boot "boot to guest init" ms runvm.ms "QEMU microvm, KVM" qemu.ms
