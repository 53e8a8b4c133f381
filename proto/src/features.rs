//! What the guest agent supports, for the host's OCI features document
//! (`runvm features`) and its bundle checks: the one list of each, which
//! the agent's own tables are tested against.

use oci_spec::runtime::Capability;

/// The mount options the agent parses as mount(2) flags, in its order.
pub const MOUNT_FLAG_OPTIONS: &[&str] = &[
    "acl",
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noacl",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "rbind",
    "relatime",
    "remount",
    "ro",
    "rw",
    "silent",
    "strictatime",
    "suid",
    "sync",
];

/// The propagation modes (`linux.rootfsPropagation`, or a mount option).
pub const PROPAGATIONS: &[&str] = &[
    "private",
    "shared",
    "slave",
    "unbindable",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
];

/// runc's recursive mount options (mount_setattr(2) attributes).
pub const RECURSIVE_MOUNT_OPTIONS: &[&str] = &[
    "rro",
    "rrw",
    "rnosuid",
    "rsuid",
    "rnodev",
    "rdev",
    "rnoexec",
    "rexec",
    "rnodiratime",
    "rdiratime",
    "rrelatime",
    "rnorelatime",
    "rnoatime",
    "ratime",
    "rstrictatime",
    "rnostrictatime",
    "rnosymfollow",
    "rsymfollow",
];

/// runc's mount options the agent refuses rather than ignores. Any other
/// unknown option is passed to the filesystem as data.
pub const REFUSED_MOUNT_OPTIONS: &[&str] = &["tmpcopyup", "idmap", "ridmap"];

/// Every mount option the agent knows: flags, propagation, recursive.
pub fn mount_options() -> impl Iterator<Item = &'static str> {
    MOUNT_FLAG_OPTIONS
        .iter()
        .chain(PROPAGATIONS)
        .chain(RECURSIVE_MOUNT_OPTIONS)
        .copied()
}

/// The capabilities the agent knows, in the kernel's order: a
/// capability's place here is its number (linux/capability.h).
pub const CAPABILITIES: &[Capability] = &[
    Capability::Chown,
    Capability::DacOverride,
    Capability::DacReadSearch,
    Capability::Fowner,
    Capability::Fsetid,
    Capability::Kill,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setpcap,
    Capability::LinuxImmutable,
    Capability::NetBindService,
    Capability::NetBroadcast,
    Capability::NetAdmin,
    Capability::NetRaw,
    Capability::IpcLock,
    Capability::IpcOwner,
    Capability::SysModule,
    Capability::SysRawio,
    Capability::SysChroot,
    Capability::SysPtrace,
    Capability::SysPacct,
    Capability::SysAdmin,
    Capability::SysBoot,
    Capability::SysNice,
    Capability::SysResource,
    Capability::SysTime,
    Capability::SysTtyConfig,
    Capability::Mknod,
    Capability::Lease,
    Capability::AuditWrite,
    Capability::AuditControl,
    Capability::Setfcap,
    Capability::MacOverride,
    Capability::MacAdmin,
    Capability::Syslog,
    Capability::WakeAlarm,
    Capability::BlockSuspend,
    Capability::AuditRead,
    Capability::Perfmon,
    Capability::Bpf,
    Capability::CheckpointRestore,
];
