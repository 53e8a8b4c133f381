//! Which kind of KVM this machine offers, which decides where the tests run.

use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvmKind {
    /// kvm_intel or kvm_amd behind /dev/kvm: runvm's guests boot here.
    Hardware,
    /// kvm_pvm: only PVM-enabled guest kernels boot; runvm must refuse.
    Pvm,
    /// No usable /dev/kvm at all.
    Absent,
}

impl KvmKind {
    /// Looks at this machine's loaded (or built-in) KVM modules.
    pub fn detect() -> KvmKind {
        let sys_module = Path::new("/sys/module");
        KvmKind::classify(Path::new("/dev/kvm").exists(), |module| {
            sys_module.join(module).exists()
        })
    }

    fn classify(dev_kvm_exists: bool, module_present: impl Fn(&str) -> bool) -> KvmKind {
        if !dev_kvm_exists {
            KvmKind::Absent
        } else if module_present("kvm_pvm") {
            // kvm_pvm may sit beside a vendor module; /dev/kvm could then be
            // either, so take the cautious answer.
            KvmKind::Pvm
        } else if module_present("kvm_intel") || module_present("kvm_amd") {
            KvmKind::Hardware
        } else {
            KvmKind::Absent
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_module_is_hardware() {
        assert_eq!(
            KvmKind::classify(true, |m| m == "kvm_amd"),
            KvmKind::Hardware
        );
        assert_eq!(
            KvmKind::classify(true, |m| m == "kvm_intel"),
            KvmKind::Hardware
        );
    }

    #[test]
    fn pvm_wins_over_a_vendor_module() {
        assert_eq!(KvmKind::classify(true, |m| m == "kvm_pvm"), KvmKind::Pvm);
        assert_eq!(
            KvmKind::classify(true, |m| m == "kvm_pvm" || m == "kvm_amd"),
            KvmKind::Pvm
        );
    }

    #[test]
    fn no_device_or_no_module_is_absent() {
        assert_eq!(KvmKind::classify(false, |_| true), KvmKind::Absent);
        assert_eq!(KvmKind::classify(true, |_| false), KvmKind::Absent);
    }
}
