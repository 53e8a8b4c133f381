//! CPUID: what KVM supports, with the topology of this VM and without
//! the features a guest must not see.

use kvm_bindings::kvm_cpuid_entry2;

const LEAF_FEATURES: u32 = 0x1;
const LEAF_CACHE_PARAMS: u32 = 0x4;
const LEAF_PERF_MONITORING: u32 = 0xa;
const LEAF_EXTENDED_TOPOLOGY: u32 = 0xb;
const LEAF_EXT_FEATURES: u32 = 0x8000_0001;
const LEAF_AMD_SIZE_IDS: u32 = 0x8000_0008;

const ECX_VMX: u32 = 1 << 5;
const ECX_TSC_DEADLINE: u32 = 1 << 24;
const ECX_HYPERVISOR: u32 = 1 << 31;
const EDX_HTT: u32 = 1 << 28;
const EXT_ECX_SVM: u32 = 1 << 2;

const TOPOLOGY_LEVEL_SMT: u32 = 1;
const TOPOLOGY_LEVEL_CORE: u32 = 2;

/// Bits needed to number `count` items (x86's "shift" fields).
fn id_bits(count: u32) -> u32 {
    match count {
        0 | 1 => 0,
        n => 32 - (n - 1).leading_zeros(),
    }
}

/// Rewrites KVM's supported CPUID for vCPU `vcpu_id` of a VM with
/// `vcpu_count` single-threaded cores in one socket: APIC ids and core
/// counts; the hypervisor bit on; nested virtualization and the PMU off;
/// the TSC-deadline timer on when KVM's local APIC has one
/// (`tsc_deadline`, KVM_CAP_TSC_DEADLINE_TIMER, which KVM's supported
/// CPUID never shows): the guest then programs its timer in TSC cycles and
/// skips calibrating the APIC timer against another clock at boot.
pub fn filter_cpuid(
    entries: &mut [kvm_cpuid_entry2],
    vcpu_id: u8,
    vcpu_count: u8,
    tsc_deadline: bool,
) {
    let id = u32::from(vcpu_id);
    let count = u32::from(vcpu_count);
    for entry in entries.iter_mut() {
        match entry.function {
            LEAF_FEATURES => {
                // EBX[31:24] initial APIC id, EBX[23:16] logical processors.
                entry.ebx = (entry.ebx & 0x0000_ffff) | (id << 24) | (count << 16);
                entry.ecx = (entry.ecx & !ECX_VMX) | ECX_HYPERVISOR;
                if tsc_deadline {
                    entry.ecx |= ECX_TSC_DEADLINE;
                } else {
                    entry.ecx &= !ECX_TSC_DEADLINE;
                }
                if count > 1 {
                    entry.edx |= EDX_HTT;
                } else {
                    entry.edx &= !EDX_HTT;
                }
            }
            LEAF_CACHE_PARAMS => {
                // EAX[31:26] cores per package - 1; EAX[25:14] threads
                // sharing this cache - 1 (every core has its own view).
                entry.eax &= 0x0000_3fff;
                entry.eax |= (count.saturating_sub(1) & 0x3f) << 26;
            }
            LEAF_PERF_MONITORING => {
                entry.eax = 0;
                entry.ebx = 0;
                entry.ecx = 0;
                entry.edx = 0;
            }
            LEAF_EXTENDED_TOPOLOGY => {
                entry.edx = id;
                match entry.index {
                    0 => {
                        entry.eax = 0;
                        entry.ebx = 1;
                        entry.ecx = (TOPOLOGY_LEVEL_SMT << 8) | entry.index;
                    }
                    1 => {
                        entry.eax = id_bits(count);
                        entry.ebx = count;
                        entry.ecx = (TOPOLOGY_LEVEL_CORE << 8) | entry.index;
                    }
                    _ => {
                        entry.eax = 0;
                        entry.ebx = 0;
                        entry.ecx = entry.index;
                    }
                }
            }
            LEAF_EXT_FEATURES => entry.ecx &= !EXT_ECX_SVM,
            LEAF_AMD_SIZE_IDS => {
                // ECX[15:12] APIC id size, ECX[7:0] cores - 1.
                entry.ecx = (id_bits(count) << 12) | count.saturating_sub(1);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(function: u32, index: u32) -> kvm_cpuid_entry2 {
        kvm_cpuid_entry2 {
            function,
            index,
            eax: 0xffff_ffff,
            ebx: 0xffff_ffff,
            ecx: 0xffff_ffff,
            edx: 0xffff_ffff,
            ..Default::default()
        }
    }

    #[test]
    fn apic_id_and_count_in_leaf_one() {
        let mut entries = [entry(LEAF_FEATURES, 0)];
        filter_cpuid(&mut entries, 3, 4, true);
        assert_eq!(entries[0].ebx >> 24, 3);
        assert_eq!((entries[0].ebx >> 16) & 0xff, 4);
        assert_eq!(entries[0].ecx & ECX_VMX, 0);
        assert_ne!(entries[0].ecx & ECX_HYPERVISOR, 0);
        assert_ne!(entries[0].edx & EDX_HTT, 0);
        assert_ne!(entries[0].ecx & ECX_TSC_DEADLINE, 0);
    }

    #[test]
    fn no_tsc_deadline_timer_unless_kvm_has_one() {
        let mut entries = [entry(LEAF_FEATURES, 0)];
        filter_cpuid(&mut entries, 0, 1, false);
        assert_eq!(entries[0].ecx & ECX_TSC_DEADLINE, 0);
    }

    #[test]
    fn single_vcpu_has_no_htt() {
        let mut entries = [entry(LEAF_FEATURES, 0)];
        filter_cpuid(&mut entries, 0, 1, false);
        assert_eq!(entries[0].edx & EDX_HTT, 0);
    }

    #[test]
    fn extended_topology_describes_cores() {
        let mut entries = [
            entry(LEAF_EXTENDED_TOPOLOGY, 0),
            entry(LEAF_EXTENDED_TOPOLOGY, 1),
            entry(LEAF_EXTENDED_TOPOLOGY, 2),
        ];
        filter_cpuid(&mut entries, 2, 3, false);
        assert_eq!((entries[0].eax, entries[0].ebx, entries[0].edx), (0, 1, 2));
        assert_eq!((entries[1].eax, entries[1].ebx), (2, 3));
        assert_eq!(entries[1].ecx >> 8, TOPOLOGY_LEVEL_CORE);
        assert_eq!((entries[2].ebx, entries[2].ecx), (0, 2));
    }

    #[test]
    fn nested_virtualization_and_pmu_hidden() {
        let mut entries = [entry(LEAF_EXT_FEATURES, 0), entry(LEAF_PERF_MONITORING, 0)];
        filter_cpuid(&mut entries, 0, 1, false);
        assert_eq!(entries[0].ecx & EXT_ECX_SVM, 0);
        assert_eq!(entries[1].eax, 0);
    }

    #[test]
    fn id_bits_rounds_up() {
        assert_eq!([1, 2, 3, 4, 5, 8, 9].map(id_bits), [0, 1, 2, 2, 3, 3, 4]);
    }
}
