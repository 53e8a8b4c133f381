//! The spec's mounts: options parsed as runc parses them, then mounted on
//! targets resolved inside the container root.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sys::stat::SFlag;
use proto::features::REFUSED_MOUNT_OPTIONS;

use super::describe;
use super::resolve::{self, Kind};

/// What is wrong with one mount of the spec.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("destination is empty")]
    NoDestination,
    #[error("{0} contains a NUL byte")]
    Nul(&'static str),
    #[error("a bind mount needs a source")]
    NoSource,
    #[error("type {0} is not supported")]
    Type(String),
    #[error("no type and no bind option")]
    NoType,
    #[error("option {0} is not supported")]
    Option(String),
    #[error("{step}: {}", describe(*.errno))]
    Failed { step: &'static str, errno: Errno },
}

/// Where a bind mount's source is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Relative to the share (`mounts/<n>`).
    Share(PathBuf),
    /// An absolute path of the guest (`/dev/null`, say).
    Guest(PathBuf),
}

/// A mount's options: flags for mount(2), the propagation changes to make
/// after it, recursive attributes (`rro`, …) and the rest as the data
/// string, in their order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub flags: MsFlags,
    pub propagation: Vec<MsFlags>,
    pub recursive: Attr,
    pub data: String,
}

/// Recursive mount attributes for mount_setattr(2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attr {
    pub set: u64,
    pub clear: u64,
}

use libc::{
    MOUNT_ATTR_NOATIME, MOUNT_ATTR_NODEV, MOUNT_ATTR_NODIRATIME, MOUNT_ATTR_NOEXEC,
    MOUNT_ATTR_NOSUID, MOUNT_ATTR_NOSYMFOLLOW, MOUNT_ATTR_RDONLY, MOUNT_ATTR_RELATIME,
    MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME,
};

/// runc's table: the option, whether it clears the flag, the flag.
const FLAGS: &[(&str, bool, MsFlags)] = &[
    ("acl", false, MsFlags::MS_POSIXACL),
    ("async", true, MsFlags::MS_SYNCHRONOUS),
    ("atime", true, MsFlags::MS_NOATIME),
    ("bind", false, MsFlags::MS_BIND),
    ("defaults", false, MsFlags::empty()),
    ("dev", true, MsFlags::MS_NODEV),
    ("diratime", true, MsFlags::MS_NODIRATIME),
    ("dirsync", false, MsFlags::MS_DIRSYNC),
    ("exec", true, MsFlags::MS_NOEXEC),
    ("iversion", false, MsFlags::MS_I_VERSION),
    ("lazytime", false, MsFlags::MS_LAZYTIME),
    ("loud", true, MsFlags::MS_SILENT),
    ("mand", false, MsFlags::MS_MANDLOCK),
    ("noacl", true, MsFlags::MS_POSIXACL),
    ("noatime", false, MsFlags::MS_NOATIME),
    ("nodev", false, MsFlags::MS_NODEV),
    ("nodiratime", false, MsFlags::MS_NODIRATIME),
    ("noexec", false, MsFlags::MS_NOEXEC),
    ("noiversion", true, MsFlags::MS_I_VERSION),
    ("nolazytime", true, MsFlags::MS_LAZYTIME),
    ("nomand", true, MsFlags::MS_MANDLOCK),
    ("norelatime", true, MsFlags::MS_RELATIME),
    ("nostrictatime", true, MsFlags::MS_STRICTATIME),
    ("nosuid", false, MsFlags::MS_NOSUID),
    ("nosymfollow", false, MS_NOSYMFOLLOW),
    ("rbind", false, MsFlags::MS_BIND.union(MsFlags::MS_REC)),
    ("relatime", false, MsFlags::MS_RELATIME),
    ("remount", false, MsFlags::MS_REMOUNT),
    ("ro", false, MsFlags::MS_RDONLY),
    ("rw", true, MsFlags::MS_RDONLY),
    ("silent", false, MsFlags::MS_SILENT),
    ("strictatime", false, MsFlags::MS_STRICTATIME),
    ("suid", true, MsFlags::MS_NOSUID),
    ("sync", false, MsFlags::MS_SYNCHRONOUS),
];

const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);

const PROPAGATION: &[(&str, MsFlags)] = &[
    ("private", MsFlags::MS_PRIVATE),
    ("shared", MsFlags::MS_SHARED),
    ("slave", MsFlags::MS_SLAVE),
    ("unbindable", MsFlags::MS_UNBINDABLE),
    ("rprivate", MsFlags::MS_PRIVATE.union(MsFlags::MS_REC)),
    ("rshared", MsFlags::MS_SHARED.union(MsFlags::MS_REC)),
    ("rslave", MsFlags::MS_SLAVE.union(MsFlags::MS_REC)),
    ("runbindable", MsFlags::MS_UNBINDABLE.union(MsFlags::MS_REC)),
];

/// The propagation flags a name stands for (`rprivate`, …).
pub fn propagation(name: &str) -> Option<MsFlags> {
    PROPAGATION
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, flags)| *flags)
}

/// runc's recursive options: the option, whether it clears, the attribute.
const RECURSIVE: &[(&str, bool, u64)] = &[
    ("rro", false, MOUNT_ATTR_RDONLY),
    ("rrw", true, MOUNT_ATTR_RDONLY),
    ("rnosuid", false, MOUNT_ATTR_NOSUID),
    ("rsuid", true, MOUNT_ATTR_NOSUID),
    ("rnodev", false, MOUNT_ATTR_NODEV),
    ("rdev", true, MOUNT_ATTR_NODEV),
    ("rnoexec", false, MOUNT_ATTR_NOEXEC),
    ("rexec", true, MOUNT_ATTR_NOEXEC),
    ("rnodiratime", false, MOUNT_ATTR_NODIRATIME),
    ("rdiratime", true, MOUNT_ATTR_NODIRATIME),
    ("rrelatime", false, MOUNT_ATTR_RELATIME),
    ("rnorelatime", true, MOUNT_ATTR_RELATIME),
    ("rnoatime", false, MOUNT_ATTR_NOATIME),
    ("ratime", true, MOUNT_ATTR_NOATIME),
    ("rstrictatime", false, MOUNT_ATTR_STRICTATIME),
    ("rnostrictatime", true, MOUNT_ATTR_STRICTATIME),
    ("rnosymfollow", false, MOUNT_ATTR_NOSYMFOLLOW),
    ("rsymfollow", true, MOUNT_ATTR_NOSYMFOLLOW),
];

impl Options {
    /// Parses `options` as runc does: known words become flags, the
    /// others the data string for the filesystem.
    pub fn parse(options: &[String]) -> Result<Self, MountError> {
        let mut parsed = Options {
            flags: MsFlags::empty(),
            propagation: Vec::new(),
            recursive: Attr::default(),
            data: String::new(),
        };
        let mut data = Vec::new();
        for option in options.iter().filter(|option| !option.is_empty()) {
            let word = option.as_str();
            if option.contains('\0') {
                return Err(MountError::Nul("an option"));
            }
            if REFUSED_MOUNT_OPTIONS.contains(&word) {
                return Err(MountError::Option(option.clone()));
            }
            if let Some((_, clear, flag)) = FLAGS.iter().find(|(name, ..)| *name == word) {
                if *clear {
                    parsed.flags.remove(*flag);
                } else {
                    parsed.flags.insert(*flag);
                }
            } else if let Some(flag) = propagation(word) {
                parsed.propagation.push(flag);
            } else if let Some((_, clear, attr)) = RECURSIVE.iter().find(|(name, ..)| *name == word)
            {
                if *attr & MOUNT_ATTR__ATIME == *attr {
                    // The atime modes are one field: any of them replaces
                    // it; the clearing ones leave relatime (0).
                    parsed.recursive.clear |= MOUNT_ATTR__ATIME;
                    parsed.recursive.set &= !MOUNT_ATTR__ATIME;
                    if !*clear {
                        parsed.recursive.set |= *attr;
                    }
                } else if *clear {
                    parsed.recursive.set &= !*attr;
                    parsed.recursive.clear |= *attr;
                } else {
                    parsed.recursive.set |= *attr;
                    parsed.recursive.clear &= !*attr;
                }
            } else {
                data.push(word);
            }
        }
        parsed.data = data.join(",");
        Ok(parsed)
    }
}

/// What a mount is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum What {
    Bind(Source),
    /// A filesystem of this type, with this source name.
    Fs {
        fstype: &'static str,
        source: String,
    },
}

/// One validated mount of the spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub destination: PathBuf,
    pub what: What,
    pub options: Options,
}

/// The filesystems a container may mount besides binds; `cgroup` is
/// cgroup v2 here, as runc does on a unified hierarchy.
fn fstype(name: &str) -> Option<&'static str> {
    Some(match name {
        "proc" => "proc",
        "sysfs" => "sysfs",
        "tmpfs" => "tmpfs",
        "devpts" => "devpts",
        "mqueue" => "mqueue",
        "cgroup" | "cgroup2" => "cgroup2",
        _ => return None,
    })
}

impl Mount {
    /// Validates one mount of the spec.
    pub fn new(mount: &oci_spec::runtime::Mount) -> Result<Self, MountError> {
        let destination = mount.destination().clone();
        if destination.as_os_str().is_empty() {
            return Err(MountError::NoDestination);
        }
        if resolve::cstring(&destination).is_err() {
            return Err(MountError::Nul("destination"));
        }
        let mut options = Options::parse(mount.options().as_deref().unwrap_or_default())?;
        let typ = mount.typ().as_deref().unwrap_or("");
        if typ == "bind" {
            options.flags.insert(MsFlags::MS_BIND);
        }
        let what = if options.flags.contains(MsFlags::MS_BIND) {
            let source = mount.source().clone().ok_or(MountError::NoSource)?;
            if source.as_os_str().is_empty() {
                return Err(MountError::NoSource);
            }
            if resolve::cstring(&source).is_err() {
                return Err(MountError::Nul("source"));
            }
            What::Bind(if source.is_absolute() {
                Source::Guest(source)
            } else {
                Source::Share(source)
            })
        } else if typ.is_empty() || typ == "none" {
            return Err(MountError::NoType);
        } else {
            let fstype = fstype(typ).ok_or_else(|| MountError::Type(typ.to_owned()))?;
            let source = match mount.source() {
                Some(source) if !source.as_os_str().is_empty() => {
                    source.to_string_lossy().into_owned()
                }
                _ => fstype.to_owned(),
            };
            if source.contains('\0') {
                return Err(MountError::Nul("source"));
            }
            What::Fs { fstype, source }
        };
        Ok(Mount {
            destination,
            what,
            options,
        })
    }

    /// Mounts it inside `root`, creating the mount point; bind sources
    /// relative to the share are found in `share`. Sets its propagation if
    /// `propagate`. Returns the mounted filesystem's root, opened with
    /// O_PATH.
    pub fn apply(
        &self,
        root: BorrowedFd,
        share: BorrowedFd,
        propagate: bool,
    ) -> Result<OwnedFd, MountError> {
        let at = |step| move |errno| MountError::Failed { step, errno };
        let flags = self.options.flags;
        match &self.what {
            What::Bind(source) => {
                let source = match source {
                    Source::Share(path) => resolve::open_in(share, path, OFlag::O_PATH),
                    Source::Guest(path) => open_path(path),
                }
                .map_err(at("source"))?;
                let is_dir = nix::sys::stat::fstat(source.as_raw_fd())
                    .map(|stat| SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT)
                    .map_err(at("source"))?
                    == SFlag::S_IFDIR;
                let kind = if is_dir { Kind::Dir } else { Kind::File };
                let target =
                    resolve::create_in(root, &self.destination, kind).map_err(at("mount point"))?;
                let bind = flags & (MsFlags::MS_BIND | MsFlags::MS_REC);
                mount_at(Some(source.as_fd()), target.as_fd(), None, bind, None)
                    .map_err(at("bind"))?;
                let mounted = self.reopen(root)?;
                let rest = flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
                if !rest.is_empty() {
                    let remount = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | rest;
                    mount_at(None, mounted.as_fd(), None, remount, None).map_err(at("remount"))?;
                }
                self.finish(mounted, propagate)
            }
            What::Fs { fstype, source } => {
                let target = resolve::create_in(root, &self.destination, Kind::Dir)
                    .map_err(at("mount point"))?;
                let data = Some(self.options.data.as_str()).filter(|data| !data.is_empty());
                nix::mount::mount(
                    Some(source.as_str()),
                    &resolve::fd_path(target.as_fd()),
                    Some(*fstype),
                    flags,
                    data,
                )
                .map_err(at("mount"))?;
                let mounted = self.reopen(root)?;
                self.finish(mounted, propagate)
            }
        }
    }

    fn reopen(&self, root: BorrowedFd) -> Result<OwnedFd, MountError> {
        resolve::open_in(root, &self.destination, OFlag::O_PATH).map_err(|errno| {
            MountError::Failed {
                step: "reopening",
                errno,
            }
        })
    }

    /// Propagation (if `propagate`) and recursive attributes, on the new
    /// mount.
    fn finish(&self, mounted: OwnedFd, propagate: bool) -> Result<OwnedFd, MountError> {
        let propagation = if propagate {
            self.options.propagation.as_slice()
        } else {
            &[]
        };
        for flag in propagation {
            mount_at(None, mounted.as_fd(), None, *flag, None).map_err(|errno| {
                MountError::Failed {
                    step: "propagation",
                    errno,
                }
            })?;
        }
        let attr = self.options.recursive;
        if attr != Attr::default() {
            set_attr(mounted.as_fd(), attr).map_err(|errno| MountError::Failed {
                step: "recursive options",
                errno,
            })?;
        }
        Ok(mounted)
    }
}

/// Opens a guest path (not a container path) with O_PATH.
pub fn open_path(path: &Path) -> Result<OwnedFd, Errno> {
    let fd = nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    // SAFETY: open just returned this descriptor; nothing else owns it.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}

/// mount(2) with `source` and `target` given as descriptors.
pub fn mount_at(
    source: Option<BorrowedFd>,
    target: BorrowedFd,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), Errno> {
    let source = source.map(resolve::fd_path);
    nix::mount::mount(
        source.as_deref(),
        &resolve::fd_path(target),
        fstype,
        flags,
        data,
    )
}

/// mount_setattr(2) on the mount tree at `target`.
fn set_attr(target: BorrowedFd, attr: Attr) -> Result<(), Errno> {
    let attr = libc::mount_attr {
        attr_set: attr.set,
        attr_clr: attr.clear,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: the path is a static empty string and `attr` a live
    // mount_attr of the size passed; the kernel only reads both.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            target.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    Errno::result(rc).map(drop)
}

/// The flags of the mount at `fd` that a bind remount must keep (statfs
/// reports them).
pub fn kept_flags(fd: BorrowedFd) -> Result<MsFlags, Errno> {
    let stat = nix::sys::statvfs::fstatvfs(fd)?;
    let flags = stat.flags();
    use nix::sys::statvfs::FsFlags;
    let pairs = [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ];
    Ok(pairs
        .iter()
        .filter(|(st, _)| flags.contains(*st))
        .fold(MsFlags::empty(), |kept, (_, ms)| kept | *ms))
}

/// Makes the mount at `fd` read-only, keeping its other flags; returns
/// the remount's flags.
pub fn remount_read_only(fd: BorrowedFd) -> Result<MsFlags, Errno> {
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | kept_flags(fd)?;
    mount_at(None, fd, None, flags, None)?;
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn options(words: &[&str]) -> Options {
        let words: Vec<String> = words.iter().map(|word| word.to_string()).collect();
        Options::parse(&words).unwrap()
    }

    fn mount(value: serde_json::Value) -> Result<Mount, MountError> {
        Mount::new(&serde_json::from_value(value).unwrap())
    }

    #[test]
    fn flags_propagation_and_data_as_runc_parses_them() {
        let parsed = options(&[
            "nosuid",
            "strictatime",
            "mode=755",
            "size=65536k",
            "rprivate",
        ]);
        assert_eq!(parsed.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(parsed.data, "mode=755,size=65536k");
        assert_eq!(parsed.propagation, [MsFlags::MS_PRIVATE | MsFlags::MS_REC]);
        let parsed = options(&[
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
            "noexec",
        ]);
        assert_eq!(parsed.flags, MsFlags::MS_NOEXEC);
        assert_eq!(parsed.data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
    }

    #[test]
    fn later_options_override_earlier_ones() {
        assert_eq!(options(&["ro", "rw"]).flags, MsFlags::empty());
        assert_eq!(options(&["rw", "ro"]).flags, MsFlags::MS_RDONLY);
        assert_eq!(options(&["nodev", "dev", "exec"]).flags, MsFlags::empty());
        assert_eq!(
            options(&["rbind", "ro", "", "defaults"]).flags,
            MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY
        );
        assert_eq!(options(&["nosymfollow"]).flags, MS_NOSYMFOLLOW);
    }

    #[test]
    fn recursive_options_become_mount_attributes() {
        let parsed = options(&["rbind", "rro", "rnosuid", "rdev"]);
        assert_eq!(parsed.flags, MsFlags::MS_BIND | MsFlags::MS_REC);
        assert_eq!(
            parsed.recursive,
            Attr {
                set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID,
                clear: MOUNT_ATTR_NODEV,
            }
        );
        let parsed = options(&["rnoatime", "rstrictatime"]);
        assert_eq!(
            parsed.recursive,
            Attr {
                set: MOUNT_ATTR_STRICTATIME,
                clear: MOUNT_ATTR__ATIME,
            }
        );
        assert_eq!(parsed.data, "");
    }

    #[test]
    fn unsupported_options_are_refused() {
        let words = vec!["tmpcopyup".to_string()];
        let error = Options::parse(&words).unwrap_err();
        assert_eq!(error.to_string(), "option tmpcopyup is not supported");
        let words = vec!["a\0b".to_string()];
        assert!(matches!(Options::parse(&words), Err(MountError::Nul(_))));
    }

    #[test]
    fn mounts_of_docker_default_spec() {
        let proc = mount(
            json!({"destination": "/proc", "type": "proc", "source": "proc",
            "options": ["nosuid", "noexec", "nodev"]}),
        )
        .unwrap();
        assert_eq!(
            proc.what,
            What::Fs {
                fstype: "proc",
                source: "proc".into()
            }
        );
        let cgroup = mount(json!({"destination": "/sys/fs/cgroup", "type": "cgroup",
            "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]}))
        .unwrap();
        assert!(matches!(
            cgroup.what,
            What::Fs {
                fstype: "cgroup2",
                ..
            }
        ));
        let hosts = mount(json!({"destination": "/etc/hosts", "type": "bind",
            "source": "mounts/3", "options": ["rbind", "rprivate"]}))
        .unwrap();
        assert_eq!(hosts.what, What::Bind(Source::Share("mounts/3".into())));
        let null = mount(json!({"destination": "/x", "type": "none",
            "source": "/dev/null", "options": ["bind"]}))
        .unwrap();
        assert_eq!(null.what, What::Bind(Source::Guest("/dev/null".into())));
        let typed_bind = mount(json!({"destination": "/y", "type": "bind",
            "source": "mounts/0"}))
        .unwrap();
        assert!(typed_bind.options.flags.contains(MsFlags::MS_BIND));
        let unnamed = mount(json!({"destination": "/t", "type": "tmpfs"})).unwrap();
        assert_eq!(
            unnamed.what,
            What::Fs {
                fstype: "tmpfs",
                source: "tmpfs".into()
            }
        );
    }

    #[test]
    fn bad_mounts_say_what_is_wrong() {
        let cases = [
            (
                json!({"destination": "/x", "type": "ext4", "source": "/dev/vda"}),
                "type ext4 is not supported",
            ),
            (
                json!({"destination": "/x", "source": "/y"}),
                "no type and no bind option",
            ),
            (
                json!({"destination": "/x", "type": "bind"}),
                "a bind mount needs a source",
            ),
            (
                json!({"destination": "", "type": "tmpfs"}),
                "destination is empty",
            ),
            (
                json!({"destination": "/x", "type": "tmpfs", "options": ["idmap"]}),
                "option idmap is not supported",
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(mount(value).unwrap_err().to_string(), expected);
        }
    }

    /// The names the host reports as supported are the ones parsed here.
    #[test]
    fn the_tables_are_the_shared_lists() {
        let flags: Vec<&str> = FLAGS.iter().map(|(name, ..)| *name).collect();
        assert_eq!(flags, proto::features::MOUNT_FLAG_OPTIONS);
        let propagation: Vec<&str> = PROPAGATION.iter().map(|(name, _)| *name).collect();
        assert_eq!(propagation, proto::features::PROPAGATIONS);
        let recursive: Vec<&str> = RECURSIVE.iter().map(|(name, ..)| *name).collect();
        assert_eq!(recursive, proto::features::RECURSIVE_MOUNT_OPTIONS);
    }
}
