//! Loading the kernel, the initrd and the command line, and writing the
//! boot information the kernel reads: the PVH start info for an ELF
//! vmlinux with a PVH note, the Linux zero page otherwise.

use std::io::Cursor;

use linux_loader::configurator::linux::LinuxBootConfigurator;
use linux_loader::configurator::pvh::PvhBootConfigurator;
use linux_loader::configurator::{BootConfigurator, BootParams};
use linux_loader::loader::bootparam::{boot_e820_entry, boot_params};
use linux_loader::loader::elf::start_info::{
    hvm_memmap_table_entry, hvm_modlist_entry, hvm_start_info,
};
use linux_loader::loader::{
    load_cmdline, BzImage, Cmdline, Elf, KernelLoader, KernelLoaderResult, PvhBootCapability,
};
use vm_memory::{Address, Bytes, GuestAddress, GuestMemory as _};

use super::layout::{
    CMDLINE_MAX_SIZE, CMDLINE_START, EBDA_START, HIMEM_START, MMIO_GAP_START, PVH_INFO_START,
    PVH_MEMMAP_START, PVH_MODLIST_START, ZERO_PAGE_START,
};
use super::regs::BootEntry;
use crate::memory::{ram_ranges, GuestMemory};

const E820_RAM: u32 = 1;
const KERNEL_BOOT_FLAG_MAGIC: u16 = 0xaa55;
const KERNEL_HDR_MAGIC: u32 = 0x5372_6448;
const KERNEL_LOADER_OTHER: u8 = 0xff;
const KERNEL_MIN_ALIGNMENT: u32 = 0x0100_0000;
const XEN_HVM_START_MAGIC: u32 = 0x336e_c578;
/// Offset of the 64-bit entry point from the start of a bzImage's
/// protected-mode kernel.
const BZIMAGE_64BIT_ENTRY_OFFSET: u64 = 0x200;
/// Where initrds may go when the kernel gives no limit.
const DEFAULT_INITRD_ADDR_MAX: u64 = 0x7fff_ffff;
const PAGE_SIZE: u64 = 4096;

/// Why the guest could not be prepared for boot.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("the kernel image is neither an ELF vmlinux nor a bzImage")]
    UnknownKernelFormat,
    #[error("loading the kernel image")]
    LoadKernel(#[source] linux_loader::loader::Error),
    #[error("invalid kernel command line")]
    Cmdline(#[source] linux_loader::cmdline::Error),
    #[error("writing the kernel command line")]
    WriteCmdline(#[source] linux_loader::loader::Error),
    #[error("the initrd ({size} bytes) does not fit in guest memory above the kernel")]
    InitrdTooLarge { size: usize },
    #[error("writing the initrd into guest memory")]
    WriteInitrd(#[source] vm_memory::GuestMemoryError),
    #[error("writing the boot parameters")]
    BootParams(#[source] linux_loader::configurator::Error),
    #[error("building the MP table")]
    Mptable(#[source] super::mptable::MptableError),
    #[error("writing the MP table")]
    WriteMptable(#[source] vm_memory::GuestMemoryError),
}

/// What the guest is booted with.
pub struct BootImages<'a> {
    /// An ELF vmlinux or a bzImage.
    pub kernel: &'a [u8],
    /// An initramfs (cpio, optionally compressed), if any.
    pub initrd: Option<&'a [u8]>,
    /// The kernel command line.
    pub cmdline: &'a str,
    /// Enter an ELF vmlinux through its PVH entry when it has one, instead
    /// of the 64-bit Linux boot protocol.
    pub pvh: bool,
}

fn is_elf(image: &[u8]) -> bool {
    image.starts_with(b"\x7fELF")
}

fn is_bzimage(image: &[u8]) -> bool {
    image.get(0x202..0x206) == Some(b"HdrS")
}

fn load_kernel(mem: &GuestMemory, kernel: &[u8]) -> Result<KernelLoaderResult, BootError> {
    let mut image = Cursor::new(kernel);
    let himem = Some(GuestAddress(HIMEM_START));
    if is_elf(kernel) {
        Elf::load(mem, None, &mut image, himem).map_err(BootError::LoadKernel)
    } else if is_bzimage(kernel) {
        BzImage::load(mem, None, &mut image, himem).map_err(BootError::LoadKernel)
    } else {
        Err(BootError::UnknownKernelFormat)
    }
}

/// The RAM the kernel may use, as (start, length): the base 640 KiB less
/// the EBDA, then everything from 1 MiB on.
fn usable_ram(mem_size: u64) -> Vec<(u64, u64)> {
    let mut ranges = vec![(0, EBDA_START)];
    for (start, len) in ram_ranges(mem_size) {
        if start.0 == 0 {
            ranges.push((HIMEM_START, len - HIMEM_START));
        } else {
            ranges.push((start.0, len));
        }
    }
    ranges
}

/// Where the initrd goes: as high as possible below the MMIO gap and the
/// kernel's limit, page aligned, above the kernel.
fn initrd_address(
    mem_size: u64,
    kernel_end: u64,
    addr_max: u64,
    size: usize,
) -> Result<u64, BootError> {
    let too_large = || BootError::InitrdTooLarge { size };
    let size = u64::try_from(size).map_err(|_| too_large())?;
    let low_end = mem_size.min(MMIO_GAP_START).min(addr_max.saturating_add(1));
    let start = low_end.checked_sub(size).ok_or_else(too_large)? & !(PAGE_SIZE - 1);
    if start < kernel_end {
        return Err(too_large());
    }
    Ok(start)
}

/// Loads everything the guest boots from into `mem` and returns where the
/// vCPU enters the kernel.
pub fn load_boot_images(
    mem: &GuestMemory,
    images: &BootImages,
    vcpu_count: u8,
) -> Result<BootEntry, BootError> {
    let kernel = load_kernel(mem, images.kernel)?;
    let mem_size = mem
        .iter()
        .map(vm_memory::GuestMemoryRegion::len)
        .sum::<u64>();

    let mut cmdline = Cmdline::new(CMDLINE_MAX_SIZE).map_err(BootError::Cmdline)?;
    cmdline
        .insert_str(images.cmdline)
        .map_err(BootError::Cmdline)?;
    load_cmdline(mem, GuestAddress(CMDLINE_START), &cmdline).map_err(BootError::WriteCmdline)?;
    let cmdline_size = cmdline
        .as_cstring()
        .map_err(BootError::Cmdline)?
        .as_bytes_with_nul()
        .len();

    let addr_max = kernel
        .setup_header
        .map(|hdr| u64::from(hdr.initrd_addr_max))
        .filter(|max| *max != 0)
        .unwrap_or(DEFAULT_INITRD_ADDR_MAX);
    let kernel_end = kernel.kernel_load.0.saturating_add(kernel.kernel_end);
    let initrd = match images.initrd {
        Some(initrd) => {
            let addr = initrd_address(mem_size, kernel_end, addr_max, initrd.len())?;
            mem.write_slice(initrd, GuestAddress(addr))
                .map_err(BootError::WriteInitrd)?;
            Some((addr, initrd.len() as u64))
        }
        None => None,
    };

    let mptable = super::mptable::build_mptable(vcpu_count).map_err(BootError::Mptable)?;
    mem.write_slice(&mptable, GuestAddress(EBDA_START))
        .map_err(BootError::WriteMptable)?;

    let ram = usable_ram(mem_size);
    match kernel.pvh_boot_cap {
        PvhBootCapability::PvhEntryPresent(entry) if images.pvh => {
            write_pvh_start_info(mem, &ram, initrd)?;
            Ok(BootEntry::Pvh(entry))
        }
        _ => {
            write_zero_page(mem, &kernel, &ram, initrd, cmdline_size)?;
            let entry = if kernel.setup_header.is_some() {
                kernel.kernel_load.unchecked_add(BZIMAGE_64BIT_ENTRY_OFFSET)
            } else {
                kernel.kernel_load
            };
            Ok(BootEntry::Linux64(entry))
        }
    }
}

fn write_pvh_start_info(
    mem: &GuestMemory,
    ram: &[(u64, u64)],
    initrd: Option<(u64, u64)>,
) -> Result<(), BootError> {
    let memmap: Vec<hvm_memmap_table_entry> = ram
        .iter()
        .map(|&(addr, size)| hvm_memmap_table_entry {
            addr,
            size,
            type_: E820_RAM,
            reserved: 0,
        })
        .collect();
    let modules: Vec<hvm_modlist_entry> = initrd
        .map(|(paddr, size)| hvm_modlist_entry {
            paddr,
            size,
            ..Default::default()
        })
        .into_iter()
        .collect();
    let start_info = hvm_start_info {
        magic: XEN_HVM_START_MAGIC,
        version: 1,
        cmdline_paddr: CMDLINE_START,
        memmap_paddr: PVH_MEMMAP_START,
        memmap_entries: memmap.len() as u32,
        nr_modules: modules.len() as u32,
        modlist_paddr: if modules.is_empty() {
            0
        } else {
            PVH_MODLIST_START
        },
        ..Default::default()
    };
    let mut params = BootParams::new(&start_info, GuestAddress(PVH_INFO_START));
    params.set_sections(&memmap, GuestAddress(PVH_MEMMAP_START));
    if !modules.is_empty() {
        params.set_modules(&modules, GuestAddress(PVH_MODLIST_START));
    }
    PvhBootConfigurator::write_bootparams(&params, mem).map_err(BootError::BootParams)
}

fn write_zero_page(
    mem: &GuestMemory,
    kernel: &KernelLoaderResult,
    ram: &[(u64, u64)],
    initrd: Option<(u64, u64)>,
    cmdline_size: usize,
) -> Result<(), BootError> {
    let mut params = boot_params::default();
    if let Some(hdr) = kernel.setup_header {
        params.hdr = hdr;
    }
    params.hdr.type_of_loader = KERNEL_LOADER_OTHER;
    params.hdr.boot_flag = KERNEL_BOOT_FLAG_MAGIC;
    params.hdr.header = KERNEL_HDR_MAGIC;
    params.hdr.cmd_line_ptr = CMDLINE_START as u32;
    params.hdr.cmdline_size = cmdline_size as u32;
    params.hdr.kernel_alignment = KERNEL_MIN_ALIGNMENT;
    if let Some((addr, size)) = initrd {
        // Both are below 4 GiB: `initrd_address` keeps them under the gap.
        params.hdr.ramdisk_image = addr as u32;
        params.hdr.ramdisk_size = size as u32;
    }
    for (slot, &(addr, size)) in params.e820_table.iter_mut().zip(ram) {
        *slot = boot_e820_entry {
            addr,
            size,
            type_: E820_RAM,
        };
    }
    params.e820_entries = ram.len() as u8;
    let params = BootParams::new(&params, GuestAddress(ZERO_PAGE_START));
    LinuxBootConfigurator::write_bootparams(&params, mem).map_err(BootError::BootParams)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_kernel_formats() {
        assert!(is_elf(b"\x7fELF\x02\x01"));
        let mut bz = vec![0u8; 0x300];
        bz[0x202..0x206].copy_from_slice(b"HdrS");
        assert!(is_bzimage(&bz));
        assert!(!is_bzimage(b"short"));
    }

    #[test]
    fn garbage_kernel_is_rejected() {
        let mem = crate::memory::create_guest_memory(64).unwrap();
        let images = BootImages {
            kernel: b"not a kernel",
            initrd: None,
            cmdline: "console=ttyS0",
            pvh: false,
        };
        assert!(matches!(
            load_boot_images(&mem, &images, 1),
            Err(BootError::UnknownKernelFormat)
        ));
    }

    #[test]
    fn truncated_elf_is_an_error_not_a_panic() {
        let mem = crate::memory::create_guest_memory(64).unwrap();
        let images = BootImages {
            kernel: b"\x7fELF\x02\x01\x01\x00",
            initrd: None,
            cmdline: "console=ttyS0",
            pvh: false,
        };
        assert!(matches!(
            load_boot_images(&mem, &images, 1),
            Err(BootError::LoadKernel(_))
        ));
    }

    #[test]
    fn initrd_goes_high_and_page_aligned() {
        let addr = initrd_address(128 << 20, 32 << 20, DEFAULT_INITRD_ADDR_MAX, 5000).unwrap();
        assert_eq!(addr % PAGE_SIZE, 0);
        assert!(addr + 5000 <= 128 << 20);
        assert!(addr >= (128 << 20) - 2 * PAGE_SIZE);
    }

    #[test]
    fn initrd_overlapping_the_kernel_is_rejected() {
        let err = initrd_address(64 << 20, 60 << 20, DEFAULT_INITRD_ADDR_MAX, 8 << 20);
        assert!(matches!(err, Err(BootError::InitrdTooLarge { .. })));
        let err = initrd_address(64 << 20, 0, DEFAULT_INITRD_ADDR_MAX, usize::MAX);
        assert!(matches!(err, Err(BootError::InitrdTooLarge { .. })));
    }

    #[test]
    fn initrd_respects_the_kernel_limit_and_the_mmio_gap() {
        let addr = initrd_address(8 << 30, 0, DEFAULT_INITRD_ADDR_MAX, 4096).unwrap();
        assert!(addr + 4096 <= MMIO_GAP_START);
        let addr = initrd_address(8 << 30, 0, 0x0fff_ffff, 4096).unwrap();
        assert!(addr + 4096 <= 0x1000_0000);
    }

    #[test]
    fn usable_ram_skips_the_legacy_hole() {
        let ram = usable_ram(256 << 20);
        assert_eq!(
            ram,
            vec![(0, EBDA_START), (HIMEM_START, (256 << 20) - HIMEM_START)]
        );
        let ram = usable_ram(4 << 30);
        assert_eq!(ram.len(), 3);
        assert_eq!(ram[2].0, 1 << 32);
    }
}
