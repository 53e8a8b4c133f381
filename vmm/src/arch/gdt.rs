//! The boot GDT and the KVM segment registers derived from it.

use kvm_bindings::kvm_segment;

/// Packs a GDT entry from its flags (access byte in bits 0..8, flags
/// nibble in bits 12..16), base and 20-bit limit.
pub const fn gdt_entry(flags: u16, base: u32, limit: u32) -> u64 {
    let base = base as u64;
    let limit = limit as u64;
    let flags = flags as u64;
    ((base & 0xff00_0000) << 32)
        | ((flags & 0x0000_f0ff) << 40)
        | ((limit & 0x000f_0000) << 32)
        | ((base & 0x00ff_ffff) << 16)
        | (limit & 0x0000_ffff)
}

fn base(entry: u64) -> u64 {
    ((entry & 0xff00_0000_0000_0000) >> 32)
        | ((entry & 0x0000_00ff_0000_0000) >> 16)
        | ((entry & 0x0000_0000_ffff_0000) >> 16)
}

fn limit(entry: u64) -> u32 {
    let raw = (((entry & 0x000f_0000_0000_0000) >> 32) | (entry & 0x0000_0000_0000_ffff)) as u32;
    if granularity(entry) == 1 {
        (raw << 12) | 0xfff
    } else {
        raw
    }
}

fn bit(entry: u64, shift: u32) -> u8 {
    ((entry >> shift) & 1) as u8
}

fn granularity(entry: u64) -> u8 {
    bit(entry, 55)
}

/// The KVM segment register for GDT entry `index`.
pub fn segment_from_gdt(entry: u64, index: u8) -> kvm_segment {
    let present = bit(entry, 47);
    kvm_segment {
        base: base(entry),
        limit: limit(entry),
        selector: u16::from(index) * 8,
        type_: ((entry >> 40) & 0xf) as u8,
        present,
        dpl: ((entry >> 45) & 0x3) as u8,
        db: bit(entry, 54),
        s: bit(entry, 44),
        l: bit(entry, 53),
        g: granularity(entry),
        avl: bit(entry, 52),
        unusable: u8::from(present == 0),
        padding: 0,
    }
}

/// GDT for the 64-bit Linux boot protocol: null, 64-bit code, data, TSS.
pub const LONG_MODE_GDT: [u64; 4] = [
    gdt_entry(0, 0, 0),
    gdt_entry(0xa09b, 0, 0xfffff),
    gdt_entry(0xc093, 0, 0xfffff),
    gdt_entry(0x808b, 0, 0xfffff),
];

/// GDT for the PVH entry (32-bit protected mode): null, 32-bit code,
/// data, TSS.
pub const PROTECTED_MODE_GDT: [u64; 4] = [
    gdt_entry(0, 0, 0),
    gdt_entry(0xc09b, 0, 0xfffff),
    gdt_entry(0xc093, 0, 0xfffff),
    gdt_entry(0x008b, 0, 0x67),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_mode_code_segment() {
        let seg = segment_from_gdt(LONG_MODE_GDT[1], 1);
        assert_eq!(seg.selector, 8);
        assert_eq!(seg.l, 1);
        assert_eq!(seg.db, 0);
        assert_eq!(seg.type_, 0xb);
        assert_eq!(seg.present, 1);
        assert_eq!(seg.limit, 0xffff_ffff);
        assert_eq!(seg.base, 0);
    }

    #[test]
    fn protected_mode_segments_are_flat_32_bit() {
        let code = segment_from_gdt(PROTECTED_MODE_GDT[1], 1);
        assert_eq!((code.db, code.l, code.g), (1, 0, 1));
        let data = segment_from_gdt(PROTECTED_MODE_GDT[2], 2);
        assert_eq!((data.type_, data.selector), (0x3, 16));
        let tss = segment_from_gdt(PROTECTED_MODE_GDT[3], 3);
        assert_eq!(tss.limit, 0x67);
        assert_eq!(tss.g, 0);
    }

    #[test]
    fn base_round_trips() {
        let entry = gdt_entry(0x0093, 0x1234_5678, 0xabcde);
        let seg = segment_from_gdt(entry, 0);
        assert_eq!(seg.base, 0x1234_5678);
        assert_eq!(seg.limit, 0xabcde);
        assert_eq!(seg.unusable, 0);
        let null = segment_from_gdt(0, 0);
        assert_eq!(null.unusable, 1);
    }
}
