//! Can this host run runvm's guests? `/dev/kvm` must exist, be usable by
//! this user, and be a hardware KVM (kvm_intel or kvm_amd), not kvm_pvm,
//! which boots only PVM-enabled guest kernels.

use std::io;
use std::path::Path;

/// What the check looks at, behind a trait so the logic is testable
/// without KVM.
pub trait KvmHost {
    /// Whether the KVM device node exists.
    fn kvm_device_exists(&self) -> bool;
    /// Opens the KVM device read-write.
    fn open_kvm_device(&self) -> io::Result<()>;
    /// Whether a kernel module (loaded or built in) is present.
    fn module_present(&self, name: &str) -> bool;
}

/// Why KVM on this host cannot run runvm's guests.
#[derive(Debug, thiserror::Error)]
pub enum KvmUnusable {
    #[error(
        "/dev/kvm does not exist: this host has no KVM; enable hardware virtualization \
         and load kvm_intel or kvm_amd"
    )]
    Missing,
    #[error(
        "/dev/kvm is kvm_pvm, which boots only PVM-enabled guest kernels, not runvm's guest: \
         run runvm on a host with kvm_intel or kvm_amd, or inside the nested test host \
         (see the README)"
    )]
    Pvm,
    #[error(
        "/dev/kvm is not accessible ({0}): run runvm as root or give this user read-write \
         access to /dev/kvm"
    )]
    NoAccess(io::Error),
}

/// Checks that KVM on `host` can boot a stock guest kernel.
pub fn check_kvm(host: &impl KvmHost) -> Result<(), KvmUnusable> {
    if !host.kvm_device_exists() {
        return Err(KvmUnusable::Missing);
    }
    let hardware = host.module_present("kvm_intel") || host.module_present("kvm_amd");
    if !hardware && host.module_present("kvm_pvm") {
        return Err(KvmUnusable::Pvm);
    }
    host.open_kvm_device().map_err(KvmUnusable::NoAccess)
}

/// The real host.
pub struct LocalHost;

impl KvmHost for LocalHost {
    fn kvm_device_exists(&self) -> bool {
        Path::new("/dev/kvm").exists()
    }

    fn open_kvm_device(&self) -> io::Result<()> {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .map(drop)
    }

    fn module_present(&self, name: &str) -> bool {
        // Built-in and loadable modules alike appear here.
        Path::new("/sys/module").join(name).exists()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FakeHost {
        device: bool,
        open_error: Option<io::ErrorKind>,
        modules: &'static [&'static str],
    }

    impl KvmHost for FakeHost {
        fn kvm_device_exists(&self) -> bool {
            self.device
        }
        fn open_kvm_device(&self) -> io::Result<()> {
            match self.open_error {
                Some(kind) => Err(kind.into()),
                None => Ok(()),
            }
        }
        fn module_present(&self, name: &str) -> bool {
            self.modules.contains(&name)
        }
    }

    fn host(
        device: bool,
        open_error: Option<io::ErrorKind>,
        modules: &'static [&'static str],
    ) -> FakeHost {
        FakeHost {
            device,
            open_error,
            modules,
        }
    }

    #[test]
    fn hardware_kvm_passes() {
        check_kvm(&host(true, None, &["kvm", "kvm_amd"])).unwrap();
        check_kvm(&host(true, None, &["kvm", "kvm_intel"])).unwrap();
    }

    #[test]
    fn missing_device_is_reported() {
        let err = check_kvm(&host(false, None, &[])).unwrap_err();
        assert!(matches!(err, KvmUnusable::Missing));
        assert!(err.to_string().contains("does not exist"));
    }

    #[test]
    fn pvm_is_reported_before_trying_to_boot() {
        let err = check_kvm(&host(true, None, &["kvm", "kvm_pvm"])).unwrap_err();
        assert!(matches!(err, KvmUnusable::Pvm));
        assert!(err.to_string().contains("kvm_pvm"));
    }

    #[test]
    fn pvm_beside_hardware_kvm_is_fine() {
        check_kvm(&host(true, None, &["kvm_pvm", "kvm_intel"])).unwrap();
    }

    #[test]
    fn permission_denied_is_reported() {
        let err = check_kvm(&host(
            true,
            Some(io::ErrorKind::PermissionDenied),
            &["kvm_amd"],
        ))
        .unwrap_err();
        assert!(matches!(err, KvmUnusable::NoAccess(_)));
        assert!(err.to_string().contains("not accessible"));
    }
}
