//! Guest physical memory layout of the x86_64 microVM.

/// Start of the memory-mapped I/O gap below 4 GiB: virtio-mmio devices,
/// the IOAPIC (0xfec0_0000) and the local APIC (0xfee0_0000) live here.
pub const MMIO_GAP_START: u64 = 0xd000_0000;
/// End of the MMIO gap; RAM that did not fit below the gap continues here.
pub const MMIO_GAP_END: u64 = 1 << 32;

/// The GDT the vCPUs boot with.
pub const BOOT_GDT_START: u64 = 0x500;
/// An empty IDT: the kernel installs its own before enabling interrupts.
pub const BOOT_IDT_START: u64 = 0x520;
/// PVH `hvm_start_info`, followed by its module list and memory map.
pub const PVH_INFO_START: u64 = 0x6000;
/// PVH module list (the initrd).
pub const PVH_MODLIST_START: u64 = 0x6040;
/// PVH memory map.
pub const PVH_MEMMAP_START: u64 = 0x6100;
/// The Linux boot protocol's `boot_params` ("zero page").
pub const ZERO_PAGE_START: u64 = 0x7000;
/// Initial stack pointer for the 64-bit boot protocol.
pub const BOOT_STACK_POINTER: u64 = 0x8ff0;
/// Identity-mapping page tables for the 64-bit boot protocol.
pub const PML4_START: u64 = 0x9000;
/// Page-directory-pointer table.
pub const PDPTE_START: u64 = 0xa000;
/// Page directory with 2 MiB pages: maps the first 1 GiB.
pub const PDE_START: u64 = 0xb000;
/// The kernel command line.
pub const CMDLINE_START: u64 = 0x2_0000;
/// Capacity of the command line, NUL included (x86 `COMMAND_LINE_SIZE`).
pub const CMDLINE_MAX_SIZE: usize = 2048;
/// The extended BIOS data area: the MP table lives here, and the RAM
/// below 1 MiB ends here.
pub const EBDA_START: u64 = 0x9_fc00;
/// Where the kernel is loaded: the first byte above the legacy hole.
pub const HIMEM_START: u64 = 0x10_0000;

/// IOAPIC registers.
pub const IOAPIC_START: u32 = 0xfec0_0000;
/// Local APIC registers.
pub const LAPIC_START: u32 = 0xfee0_0000;
