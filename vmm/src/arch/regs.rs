//! Initial vCPU state: registers, segments, paging, FPU, MSRs, LAPIC.

use kvm_bindings::{kvm_fpu, kvm_lapic_state, kvm_msr_entry, kvm_regs, kvm_sregs, Msrs};
use kvm_ioctls::VcpuFd;
use vm_memory::{Bytes, GuestAddress};

use super::gdt::{segment_from_gdt, LONG_MODE_GDT, PROTECTED_MODE_GDT};
use super::layout::{
    BOOT_GDT_START, BOOT_IDT_START, BOOT_STACK_POINTER, PDE_START, PDPTE_START, PML4_START,
    PVH_INFO_START, ZERO_PAGE_START,
};
use crate::memory::GuestMemory;

const X86_CR0_PE: u64 = 0x1;
const X86_CR0_ET: u64 = 0x10;
const X86_CR0_PG: u64 = 0x8000_0000;
const X86_CR4_PAE: u64 = 0x20;
const EFER_LME: u64 = 0x100;
const EFER_LMA: u64 = 0x400;

const MSR_IA32_SYSENTER_CS: u32 = 0x174;
const MSR_IA32_SYSENTER_ESP: u32 = 0x175;
const MSR_IA32_SYSENTER_EIP: u32 = 0x176;
const MSR_IA32_MISC_ENABLE: u32 = 0x1a0;
const MSR_IA32_MISC_ENABLE_FAST_STRING: u64 = 0x1;
const MSR_STAR: u32 = 0xc000_0081;
const MSR_LSTAR: u32 = 0xc000_0082;
const MSR_CSTAR: u32 = 0xc000_0083;
const MSR_SYSCALL_MASK: u32 = 0xc000_0084;
const MSR_KERNEL_GS_BASE: u32 = 0xc000_0102;
const MSR_IA32_TSC: u32 = 0x10;

const APIC_LVT0: usize = 0x350;
const APIC_LVT1: usize = 0x360;
const APIC_MODE_NMI: u32 = 0x4;
const APIC_MODE_EXTINT: u32 = 0x7;

/// How the guest kernel is entered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootEntry {
    /// The 64-bit Linux boot protocol: long mode, `boot_params` in RSI.
    Linux64(GuestAddress),
    /// The PVH entry: 32-bit protected mode, `hvm_start_info` in EBX.
    Pvh(GuestAddress),
}

/// Why a vCPU's initial state could not be set.
#[derive(Debug, thiserror::Error)]
pub enum RegsError {
    #[error("writing the boot GDT, IDT or page tables into guest memory")]
    GuestMemory(#[source] vm_memory::GuestMemoryError),
    #[error("getting the special registers")]
    GetSregs(#[source] kvm_ioctls::Error),
    #[error("setting the special registers")]
    SetSregs(#[source] kvm_ioctls::Error),
    #[error("setting the general registers")]
    SetRegs(#[source] kvm_ioctls::Error),
    #[error("setting the FPU state")]
    SetFpu(#[source] kvm_ioctls::Error),
    #[error("building the MSR list")]
    MsrList,
    #[error("setting the MSRs")]
    SetMsrs(#[source] kvm_ioctls::Error),
    #[error("KVM set {set} of {wanted} boot MSRs")]
    PartialMsrs { set: usize, wanted: usize },
    #[error("getting the local APIC state")]
    GetLapic(#[source] kvm_ioctls::Error),
    #[error("setting the local APIC state")]
    SetLapic(#[source] kvm_ioctls::Error),
}

/// Writes what the boot vCPU's state points at: the GDT, an empty IDT
/// and, for the 64-bit entry, identity page tables for the first 1 GiB.
pub fn write_boot_tables(mem: &GuestMemory, entry: BootEntry) -> Result<(), RegsError> {
    let gdt = match entry {
        BootEntry::Linux64(_) => LONG_MODE_GDT,
        BootEntry::Pvh(_) => PROTECTED_MODE_GDT,
    };
    for (i, descriptor) in gdt.iter().enumerate() {
        let addr = GuestAddress(BOOT_GDT_START + (i as u64) * 8);
        mem.write_obj(*descriptor, addr)
            .map_err(RegsError::GuestMemory)?;
    }
    mem.write_obj(0u64, GuestAddress(BOOT_IDT_START))
        .map_err(RegsError::GuestMemory)?;
    if let BootEntry::Linux64(_) = entry {
        mem.write_obj(PDPTE_START | 0x03, GuestAddress(PML4_START))
            .map_err(RegsError::GuestMemory)?;
        mem.write_obj(PDE_START | 0x03, GuestAddress(PDPTE_START))
            .map_err(RegsError::GuestMemory)?;
        // 512 present, writable, 2 MiB pages: 0..1 GiB identity-mapped.
        for i in 0..512u64 {
            mem.write_obj((i << 21) | 0x83, GuestAddress(PDE_START + i * 8))
                .map_err(RegsError::GuestMemory)?;
        }
    }
    Ok(())
}

/// Sets segments, control registers and EFER for the boot vCPU.
pub fn setup_sregs(vcpu: &VcpuFd, entry: BootEntry) -> Result<(), RegsError> {
    let mut sregs: kvm_sregs = vcpu.get_sregs().map_err(RegsError::GetSregs)?;
    let gdt = match entry {
        BootEntry::Linux64(_) => LONG_MODE_GDT,
        BootEntry::Pvh(_) => PROTECTED_MODE_GDT,
    };
    let code = segment_from_gdt(gdt[1], 1);
    let data = segment_from_gdt(gdt[2], 2);
    let tss = segment_from_gdt(gdt[3], 3);
    sregs.gdt.base = BOOT_GDT_START;
    sregs.gdt.limit = (std::mem::size_of_val(&gdt) - 1) as u16;
    sregs.idt.base = BOOT_IDT_START;
    sregs.idt.limit = 7;
    sregs.cs = code;
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.ss = data;
    sregs.tr = tss;
    match entry {
        BootEntry::Linux64(_) => {
            sregs.cr3 = PML4_START;
            sregs.cr4 |= X86_CR4_PAE;
            sregs.cr0 |= X86_CR0_PE | X86_CR0_PG;
            sregs.efer |= EFER_LME | EFER_LMA;
        }
        BootEntry::Pvh(_) => {
            sregs.cr0 = X86_CR0_PE | X86_CR0_ET;
            sregs.cr4 = 0;
            sregs.efer = 0;
        }
    }
    vcpu.set_sregs(&sregs).map_err(RegsError::SetSregs)
}

/// Sets the general registers: the entry point and where the boot
/// information is.
pub fn setup_regs(vcpu: &VcpuFd, entry: BootEntry) -> Result<(), RegsError> {
    let regs = match entry {
        BootEntry::Linux64(rip) => kvm_regs {
            rflags: 0x2,
            rip: rip.0,
            rsp: BOOT_STACK_POINTER,
            rbp: BOOT_STACK_POINTER,
            rsi: ZERO_PAGE_START,
            ..Default::default()
        },
        BootEntry::Pvh(rip) => kvm_regs {
            rflags: 0x2,
            rip: rip.0,
            rbx: PVH_INFO_START,
            ..Default::default()
        },
    };
    vcpu.set_regs(&regs).map_err(RegsError::SetRegs)
}

/// Puts the x87 FPU and SSE in their reset state.
pub fn setup_fpu(vcpu: &VcpuFd) -> Result<(), RegsError> {
    let fpu = kvm_fpu {
        fcw: 0x37f,
        mxcsr: 0x1f80,
        ..Default::default()
    };
    vcpu.set_fpu(&fpu).map_err(RegsError::SetFpu)
}

/// Sets the MSRs the kernel expects a firmware to have initialised.
pub fn setup_msrs(vcpu: &VcpuFd) -> Result<(), RegsError> {
    let entries: Vec<kvm_msr_entry> = [
        (MSR_IA32_SYSENTER_CS, 0),
        (MSR_IA32_SYSENTER_ESP, 0),
        (MSR_IA32_SYSENTER_EIP, 0),
        (MSR_STAR, 0),
        (MSR_CSTAR, 0),
        (MSR_KERNEL_GS_BASE, 0),
        (MSR_SYSCALL_MASK, 0),
        (MSR_LSTAR, 0),
        (MSR_IA32_TSC, 0),
        (MSR_IA32_MISC_ENABLE, MSR_IA32_MISC_ENABLE_FAST_STRING),
    ]
    .into_iter()
    .map(|(index, data)| kvm_msr_entry {
        index,
        data,
        ..Default::default()
    })
    .collect();
    let msrs = Msrs::from_entries(&entries).map_err(|_| RegsError::MsrList)?;
    let set = vcpu.set_msrs(&msrs).map_err(RegsError::SetMsrs)?;
    if set != entries.len() {
        return Err(RegsError::PartialMsrs {
            set,
            wanted: entries.len(),
        });
    }
    Ok(())
}

fn lapic_reg(state: &kvm_lapic_state, offset: usize) -> u32 {
    let bytes: [u8; 4] = std::array::from_fn(|i| state.regs[offset + i] as u8);
    u32::from_le_bytes(bytes)
}

fn set_lapic_reg(state: &mut kvm_lapic_state, offset: usize, value: u32) {
    for (i, byte) in value.to_le_bytes().into_iter().enumerate() {
        state.regs[offset + i] = byte as _;
    }
}

fn with_delivery_mode(reg: u32, mode: u32) -> u32 {
    (reg & !0x700) | (mode << 8)
}

/// Wires LINT0 to the legacy PIC (ExtINT) and LINT1 to NMI, as the MP
/// table announces.
pub fn setup_lapic(vcpu: &VcpuFd) -> Result<(), RegsError> {
    let mut state = vcpu.get_lapic().map_err(RegsError::GetLapic)?;
    let lvt0 = lapic_reg(&state, APIC_LVT0);
    set_lapic_reg(
        &mut state,
        APIC_LVT0,
        with_delivery_mode(lvt0, APIC_MODE_EXTINT),
    );
    let lvt1 = lapic_reg(&state, APIC_LVT1);
    set_lapic_reg(
        &mut state,
        APIC_LVT1,
        with_delivery_mode(lvt1, APIC_MODE_NMI),
    );
    vcpu.set_lapic(&state).map_err(RegsError::SetLapic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::create_guest_memory;

    #[test]
    fn page_tables_identity_map_the_first_gigabyte() {
        let mem = create_guest_memory(64).unwrap();
        write_boot_tables(&mem, BootEntry::Linux64(GuestAddress(0x100_0000))).unwrap();
        let pml4: u64 = mem.read_obj(GuestAddress(PML4_START)).unwrap();
        assert_eq!(pml4, PDPTE_START | 3);
        let last: u64 = mem.read_obj(GuestAddress(PDE_START + 511 * 8)).unwrap();
        assert_eq!(last, (511 << 21) | 0x83);
        let code: u64 = mem.read_obj(GuestAddress(BOOT_GDT_START + 8)).unwrap();
        assert_eq!(code, LONG_MODE_GDT[1]);
    }

    #[test]
    fn pvh_boot_writes_no_page_tables() {
        let mem = create_guest_memory(64).unwrap();
        write_boot_tables(&mem, BootEntry::Pvh(GuestAddress(0x100_0000))).unwrap();
        let pml4: u64 = mem.read_obj(GuestAddress(PML4_START)).unwrap();
        assert_eq!(pml4, 0);
        let code: u64 = mem.read_obj(GuestAddress(BOOT_GDT_START + 8)).unwrap();
        assert_eq!(code, PROTECTED_MODE_GDT[1]);
    }

    #[test]
    fn lapic_delivery_mode_keeps_other_bits() {
        assert_eq!(with_delivery_mode(0x0001_0700, APIC_MODE_NMI), 0x0001_0400);
        let mut state = kvm_lapic_state::default();
        set_lapic_reg(&mut state, APIC_LVT0, 0xdead_beef);
        assert_eq!(lapic_reg(&state, APIC_LVT0), 0xdead_beef);
    }
}
