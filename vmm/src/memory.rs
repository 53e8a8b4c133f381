//! Guest RAM: one memfd mapped into the VMM and registered with KVM.

use std::fs::File;

use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
use vm_memory::{FileOffset, GuestAddress, GuestMemoryMmap};

use crate::arch::layout::{MMIO_GAP_END, MMIO_GAP_START};

/// Guest RAM as the VMM sees it.
pub type GuestMemory = GuestMemoryMmap<()>;

/// Why guest RAM could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("guest memory size must be at least 64 MiB, got {0} MiB")]
    TooSmall(u64),
    #[error("guest memory size {0} MiB does not fit the address space")]
    TooLarge(u64),
    #[error("creating the guest memory file")]
    Memfd(#[source] std::io::Error),
    #[error("sizing the guest memory file")]
    Truncate(#[source] std::io::Error),
    #[error("mapping guest memory")]
    Map(#[source] vm_memory::mmap::FromRangesError),
}

/// Smallest RAM the guest kernel boots in with room for an initramfs.
pub const MIN_MEMORY_MIB: u64 = 64;
/// Largest RAM we lay out; well beyond any single-host use.
pub const MAX_MEMORY_MIB: u64 = 1 << 20;

/// The RAM ranges for `size` bytes: below the MMIO gap first, the rest
/// above 4 GiB.
pub fn ram_ranges(size: u64) -> Vec<(GuestAddress, u64)> {
    if size <= MMIO_GAP_START {
        vec![(GuestAddress(0), size)]
    } else {
        vec![
            (GuestAddress(0), MMIO_GAP_START),
            (GuestAddress(MMIO_GAP_END), size - MMIO_GAP_START),
        ]
    }
}

/// Creates guest RAM of `mib` MiB backed by a memfd (so devices in other
/// threads, and later other processes, can share it by fd).
pub fn create_guest_memory(mib: u64) -> Result<GuestMemory, MemoryError> {
    if mib < MIN_MEMORY_MIB {
        return Err(MemoryError::TooSmall(mib));
    }
    if mib > MAX_MEMORY_MIB {
        return Err(MemoryError::TooLarge(mib));
    }
    let size = mib << 20;
    let fd = memfd_create(c"runvm-guest-ram", MemFdCreateFlag::MFD_CLOEXEC)
        .map_err(|e| MemoryError::Memfd(e.into()))?;
    let file = File::from(fd);
    file.set_len(size).map_err(MemoryError::Truncate)?;
    let file = std::sync::Arc::new(file);
    let ranges = ram_ranges(size).into_iter().map(|(start, len)| {
        let offset = start.0.min(MMIO_GAP_START);
        // Both sizes are below `MAX_MEMORY_MIB` MiB, which fits usize on
        // the only (64-bit) target.
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        (start, len, Some(FileOffset::from_arc(file.clone(), offset)))
    });
    GuestMemoryMmap::from_ranges_with_files(ranges).map_err(MemoryError::Map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::{GuestMemory as _, GuestMemoryRegion};

    #[test]
    fn small_ram_is_one_range_below_the_gap() {
        assert_eq!(ram_ranges(256 << 20), vec![(GuestAddress(0), 256 << 20)]);
    }

    #[test]
    fn large_ram_is_split_around_the_mmio_gap() {
        let ranges = ram_ranges(4 << 30);
        assert_eq!(ranges[0], (GuestAddress(0), MMIO_GAP_START));
        assert_eq!(
            ranges[1],
            (GuestAddress(MMIO_GAP_END), (4 << 30) - MMIO_GAP_START)
        );
    }

    #[test]
    fn rejects_sizes_out_of_range() {
        assert!(matches!(
            create_guest_memory(1),
            Err(MemoryError::TooSmall(1))
        ));
        assert!(matches!(
            create_guest_memory(MAX_MEMORY_MIB + 1),
            Err(MemoryError::TooLarge(_))
        ));
    }

    #[test]
    fn creates_memfd_backed_memory() {
        let mem = create_guest_memory(64).unwrap();
        assert_eq!(mem.num_regions(), 1);
        let region = mem.iter().next().unwrap();
        assert_eq!(region.len(), 64 << 20);
        assert!(region.file_offset().is_some());
    }
}
