//! The Intel MultiProcessor table: how a kernel without ACPI finds the
//! vCPUs, the IOAPIC and the ISA interrupt routing.

use super::layout::{EBDA_START, IOAPIC_START, LAPIC_START};

/// The MP table must fit between the EBDA start and 0xa0000.
const MPTABLE_MAX_SIZE: usize = 0x400;
/// vCPUs the MP table has room for (20 bytes each).
pub const MAX_VCPUS: u8 = 32;

const MPC_SPEC_REVISION: u8 = 4;
const APIC_VERSION: u8 = 0x14;
const IOAPIC_VERSION: u8 = 0x11;
const CPU_ENABLED: u8 = 1;
const CPU_BOOTPROCESSOR: u8 = 2;
const ENTRY_PROCESSOR: u8 = 0;
const ENTRY_BUS: u8 = 1;
const ENTRY_IOAPIC: u8 = 2;
const ENTRY_IO_INTERRUPT: u8 = 3;
const ENTRY_LOCAL_INTERRUPT: u8 = 4;
const INTERRUPT_INT: u8 = 0;
const INTERRUPT_NMI: u8 = 1;
const INTERRUPT_EXTINT: u8 = 3;
/// ISA interrupts routed through the IOAPIC.
pub const ISA_IRQS: u8 = 16;
const ALL_APICS: u8 = 0xff;

/// Why the MP table could not be built.
#[derive(Debug, thiserror::Error)]
pub enum MptableError {
    #[error("{0} vCPUs do not fit the MP table (at most {MAX_VCPUS})")]
    TooManyVcpus(u8),
    #[error("a VM needs at least one vCPU")]
    NoVcpus,
}

fn checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |sum, b| sum.wrapping_add(*b))
        .wrapping_neg()
}

fn interrupt_entry(kind: u8, irq_type: u8, src_irq: u8, dst_apic: u8, dst_pin: u8) -> [u8; 8] {
    [kind, irq_type, 0, 0, 0, src_irq, dst_apic, dst_pin]
}

/// Builds the MP floating pointer and configuration table for
/// `vcpu_count` vCPUs, to be written at [`EBDA_START`].
pub fn build_mptable(vcpu_count: u8) -> Result<Vec<u8>, MptableError> {
    if vcpu_count == 0 {
        return Err(MptableError::NoVcpus);
    }
    if vcpu_count > MAX_VCPUS {
        return Err(MptableError::TooManyVcpus(vcpu_count));
    }
    let ioapic_id = vcpu_count;
    let mut entries: Vec<u8> = Vec::new();
    let mut entry_count: u16 = 0;
    for cpu in 0..vcpu_count {
        let flags = CPU_ENABLED | if cpu == 0 { CPU_BOOTPROCESSOR } else { 0 };
        entries.extend_from_slice(&[ENTRY_PROCESSOR, cpu, APIC_VERSION, flags]);
        // CPU signature (family 6) and feature flags (FPU, APIC).
        entries.extend_from_slice(&0x600u32.to_le_bytes());
        entries.extend_from_slice(&0x201u32.to_le_bytes());
        entries.extend_from_slice(&[0; 8]);
        entry_count += 1;
    }
    entries.extend_from_slice(&[ENTRY_BUS, 0]);
    entries.extend_from_slice(b"ISA   ");
    entry_count += 1;
    entries.extend_from_slice(&[ENTRY_IOAPIC, ioapic_id, IOAPIC_VERSION, 1]);
    entries.extend_from_slice(&IOAPIC_START.to_le_bytes());
    entry_count += 1;
    for irq in 0..ISA_IRQS {
        entries.extend_from_slice(&interrupt_entry(
            ENTRY_IO_INTERRUPT,
            INTERRUPT_INT,
            irq,
            ioapic_id,
            irq,
        ));
        entry_count += 1;
    }
    entries.extend_from_slice(&interrupt_entry(
        ENTRY_LOCAL_INTERRUPT,
        INTERRUPT_EXTINT,
        0,
        0,
        0,
    ));
    entries.extend_from_slice(&interrupt_entry(
        ENTRY_LOCAL_INTERRUPT,
        INTERRUPT_NMI,
        0,
        ALL_APICS,
        1,
    ));
    entry_count += 2;

    const FLOATING_POINTER_SIZE: usize = 16;
    const HEADER_SIZE: usize = 44;
    let table_len = HEADER_SIZE + entries.len();
    let mut header = Vec::with_capacity(table_len);
    header.extend_from_slice(b"PCMP");
    // Bounded by MPTABLE_MAX_SIZE, checked by the unit tests.
    header.extend_from_slice(&(table_len as u16).to_le_bytes());
    header.extend_from_slice(&[MPC_SPEC_REVISION, 0]);
    header.extend_from_slice(b"RUNVM   ");
    header.extend_from_slice(b"000000000000");
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&0u16.to_le_bytes());
    header.extend_from_slice(&entry_count.to_le_bytes());
    header.extend_from_slice(&LAPIC_START.to_le_bytes());
    header.extend_from_slice(&[0; 4]);
    header.extend_from_slice(&entries);
    header[7] = checksum(&header);

    let table_addr = EBDA_START as u32 + FLOATING_POINTER_SIZE as u32;
    let mut floating = Vec::with_capacity(FLOATING_POINTER_SIZE);
    floating.extend_from_slice(b"_MP_");
    floating.extend_from_slice(&table_addr.to_le_bytes());
    floating.extend_from_slice(&[1, MPC_SPEC_REVISION, 0, 0, 0, 0, 0, 0]);
    floating[10] = checksum(&floating);

    floating.extend_from_slice(&header);
    debug_assert!(floating.len() <= MPTABLE_MAX_SIZE);
    Ok(floating)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums_to_zero(bytes: &[u8]) -> bool {
        bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b)) == 0
    }

    #[test]
    fn checksums_are_valid() {
        let table = build_mptable(2).unwrap();
        assert_eq!(&table[0..4], b"_MP_");
        assert!(sums_to_zero(&table[0..16]));
        assert_eq!(&table[16..20], b"PCMP");
        let len = u16::from_le_bytes([table[20], table[21]]) as usize;
        assert_eq!(16 + len, table.len());
        assert!(sums_to_zero(&table[16..]));
    }

    #[test]
    fn lists_every_vcpu_with_bsp_first() {
        let table = build_mptable(3).unwrap();
        let count = u16::from_le_bytes([table[16 + 34], table[16 + 35]]);
        assert_eq!(count, 3 + 1 + 1 + 16 + 2);
        let first = &table[60..80];
        assert_eq!(first[0], ENTRY_PROCESSOR);
        assert_eq!(first[3], CPU_ENABLED | CPU_BOOTPROCESSOR);
        let third = &table[100..120];
        assert_eq!((third[1], third[3]), (2, CPU_ENABLED));
    }

    #[test]
    fn largest_table_fits_below_640k() {
        let table = build_mptable(MAX_VCPUS).unwrap();
        assert!(table.len() <= MPTABLE_MAX_SIZE);
        assert!(EBDA_START as usize + table.len() <= 0xa_0000);
    }

    #[test]
    fn rejects_zero_and_too_many_vcpus() {
        assert!(matches!(build_mptable(0), Err(MptableError::NoVcpus)));
        assert!(matches!(
            build_mptable(MAX_VCPUS + 1),
            Err(MptableError::TooManyVcpus(_))
        ));
    }
}
