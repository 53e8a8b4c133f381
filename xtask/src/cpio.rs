//! A writer for the newc ("070701") cpio format, the one the Linux kernel
//! unpacks as an initramfs.
//!
//! Entries are written in the order they are added; the kernel creates them in
//! that order, so a directory must come before anything in it. The `add_*`
//! methods therefore create missing parent directories (mode 0755) first.

use std::collections::HashSet;

const MAGIC: &str = "070701";
const TRAILER: &str = "TRAILER!!!";

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;
const PERMISSION_BITS: u32 = 0o7777;
const IMPLICIT_DIR_MODE: u32 = 0o755;

/// Why an entry could not be added.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "invalid archive path {0:?}: must be non-empty, without NUL, `.`, `..` or empty components"
    )]
    InvalidPath(String),
    #[error("duplicate archive path {0:?}")]
    Duplicate(String),
    #[error("{path:?} is not a directory, so {child:?} cannot be in it")]
    ParentNotDirectory { path: String, child: String },
    #[error("entry {path:?} is {len} bytes, more than cpio's 4 GiB limit")]
    TooLarge { path: String, len: usize },
}

/// An initramfs under construction; `finish` returns the archive bytes.
#[derive(Debug, Default)]
pub struct Archive {
    out: Vec<u8>,
    paths: HashSet<String>,
    dirs: HashSet<String>,
    next_inode: u32,
}

impl Archive {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a directory; `mode` holds its permission bits (e.g. 0o755).
    pub fn add_dir(&mut self, path: &str, mode: u32) -> Result<(), Error> {
        let path = normalize(path)?;
        self.add_parents(&path)?;
        self.push(
            &path,
            S_IFDIR | (mode & PERMISSION_BITS),
            2,
            NOT_A_DEVICE,
            &[],
        )?;
        self.dirs.insert(path);
        Ok(())
    }

    /// Adds a regular file with the given permission bits and contents.
    pub fn add_file(&mut self, path: &str, mode: u32, contents: &[u8]) -> Result<(), Error> {
        let path = normalize(path)?;
        self.add_parents(&path)?;
        self.push(
            &path,
            S_IFREG | (mode & PERMISSION_BITS),
            1,
            NOT_A_DEVICE,
            contents,
        )
    }

    /// Adds a symlink at `path` pointing to `target` (stored as the data).
    pub fn add_symlink(&mut self, path: &str, target: &str) -> Result<(), Error> {
        let path = normalize(path)?;
        self.add_parents(&path)?;
        self.push(&path, S_IFLNK | 0o777, 1, NOT_A_DEVICE, target.as_bytes())
    }

    /// Adds a character device node, e.g. `/dev/console` as 5:1.
    pub fn add_char_dev(
        &mut self,
        path: &str,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> Result<(), Error> {
        let path = normalize(path)?;
        self.add_parents(&path)?;
        let rdev = DeviceNumber { major, minor };
        self.push(&path, S_IFCHR | (mode & PERMISSION_BITS), 1, rdev, &[])
    }

    /// Appends the trailer and returns the archive.
    pub fn finish(mut self) -> Vec<u8> {
        self.write_entry(TRAILER, 0, 0, 1, NOT_A_DEVICE, &[]);
        self.out
    }

    /// Adds every missing ancestor of `path`, outermost first.
    fn add_parents(&mut self, path: &str) -> Result<(), Error> {
        let ancestors: Vec<&str> = path
            .match_indices('/')
            .map(|(slash, _)| &path[..slash])
            .collect();
        for dir in ancestors {
            if self.dirs.contains(dir) {
                continue;
            }
            if self.paths.contains(dir) {
                return Err(Error::ParentNotDirectory {
                    path: dir.to_owned(),
                    child: path.to_owned(),
                });
            }
            self.push(dir, S_IFDIR | IMPLICIT_DIR_MODE, 2, NOT_A_DEVICE, &[])?;
            self.dirs.insert(dir.to_owned());
        }
        Ok(())
    }

    fn push(
        &mut self,
        path: &str,
        mode: u32,
        nlink: u32,
        rdev: DeviceNumber,
        data: &[u8],
    ) -> Result<(), Error> {
        if self.paths.contains(path) {
            return Err(Error::Duplicate(path.to_owned()));
        }
        if u32::try_from(data.len()).is_err() {
            return Err(Error::TooLarge {
                path: path.to_owned(),
                len: data.len(),
            });
        }
        self.paths.insert(path.to_owned());
        // Inode 0 is left unused: some unpackers treat it as "no inode".
        self.next_inode += 1;
        let inode = self.next_inode;
        self.write_entry(path, inode, mode, nlink, rdev, data);
        Ok(())
    }

    fn write_entry(
        &mut self,
        name: &str,
        inode: u32,
        mode: u32,
        nlink: u32,
        rdev: DeviceNumber,
        data: &[u8],
    ) {
        // Length was checked in `push`; the trailer has no data.
        let file_size = data.len() as u32;
        // The stored name length counts the terminating NUL.
        let name_size = name.len() as u32 + 1;
        let (uid, gid, dev_major, dev_minor) = (0, 0, 0, 0);
        // Fixed so that the same inputs give the same archive.
        let mtime = 0;
        // Only the "070702" (crc) variant uses the checksum field.
        let check = 0;
        let fields = [
            inode, mode, uid, gid, nlink, mtime, file_size, dev_major, dev_minor, rdev.major,
            rdev.minor, name_size, check,
        ];
        self.out.extend_from_slice(MAGIC.as_bytes());
        for field in fields {
            self.out
                .extend_from_slice(format!("{field:08x}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad_to_4();
        self.out.extend_from_slice(data);
        self.pad_to_4();
    }

    fn pad_to_4(&mut self) {
        let padded_len = self.out.len().next_multiple_of(4);
        self.out.resize(padded_len, 0);
    }
}

/// The device a node stands for; zero for anything but device nodes.
#[derive(Debug, Clone, Copy)]
struct DeviceNumber {
    major: u32,
    minor: u32,
}

const NOT_A_DEVICE: DeviceNumber = DeviceNumber { major: 0, minor: 0 };

/// Turns "/a/b/" into "a/b", the relative form the kernel expects in names.
fn normalize(path: &str) -> Result<String, Error> {
    let trimmed = path.trim_start_matches('/').trim_end_matches('/');
    let valid = !trimmed.is_empty()
        && !trimmed.contains('\0')
        && trimmed
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if valid {
        Ok(trimmed.to_owned())
    } else {
        Err(Error::InvalidPath(path.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER_LEN: usize = 6 + 13 * 8;

    #[derive(Debug, PartialEq)]
    struct Entry {
        name: String,
        inode: u32,
        mode: u32,
        rdev_major: u32,
        rdev_minor: u32,
        data: Vec<u8>,
    }

    /// Parses a newc archive, checking magic and alignment along the way.
    fn parse(archive: &[u8]) -> Vec<Entry> {
        let mut entries = Vec::new();
        let mut pos = 0;
        loop {
            assert_eq!(pos % 4, 0, "header at {pos} is not 4-byte aligned");
            let header = &archive[pos..pos + HEADER_LEN];
            assert_eq!(&header[..6], MAGIC.as_bytes());
            let field = |index: usize| {
                let start = 6 + index * 8;
                let hex = std::str::from_utf8(&header[start..start + 8]).unwrap();
                u32::from_str_radix(hex, 16).unwrap()
            };
            let name_size = field(11) as usize;
            let file_size = field(6) as usize;
            let name_start = pos + HEADER_LEN;
            let name_bytes = &archive[name_start..name_start + name_size];
            assert_eq!(name_bytes.last(), Some(&0), "name is not NUL-terminated");
            let name = std::str::from_utf8(&name_bytes[..name_size - 1])
                .unwrap()
                .to_owned();
            let data_start = (name_start + name_size).next_multiple_of(4);
            let data = archive[data_start..data_start + file_size].to_vec();
            pos = (data_start + file_size).next_multiple_of(4);
            if name == TRAILER {
                assert_eq!(pos, archive.len(), "bytes after the trailer");
                return entries;
            }
            entries.push(Entry {
                name,
                inode: field(0),
                mode: field(1),
                rdev_major: field(9),
                rdev_minor: field(10),
                data,
            });
        }
    }

    fn sample() -> Vec<u8> {
        let mut archive = Archive::new();
        archive.add_file("/init", 0o755, b"#!/bin/sh\n").unwrap();
        archive.add_dir("/proc", 0o555).unwrap();
        archive.add_char_dev("/dev/console", 0o600, 5, 1).unwrap();
        archive.add_symlink("/bin/sh", "busybox").unwrap();
        archive.add_file("/a/b/c", 0o644, b"xyz").unwrap();
        archive.finish()
    }

    #[test]
    fn round_trips_entries_with_parents_first() {
        let entries = parse(&sample());
        let summary: Vec<(&str, u32)> = entries
            .iter()
            .map(|entry| (entry.name.as_str(), entry.mode))
            .collect();
        assert_eq!(
            summary,
            [
                ("init", S_IFREG | 0o755),
                ("proc", S_IFDIR | 0o555),
                ("dev", S_IFDIR | 0o755),
                ("dev/console", S_IFCHR | 0o600),
                ("bin", S_IFDIR | 0o755),
                ("bin/sh", S_IFLNK | 0o777),
                ("a", S_IFDIR | 0o755),
                ("a/b", S_IFDIR | 0o755),
                ("a/b/c", S_IFREG | 0o644),
            ]
        );
        assert_eq!(entries[0].data, b"#!/bin/sh\n");
        assert_eq!(entries[5].data, b"busybox");
        assert_eq!(entries[8].data, b"xyz");
        assert_eq!((entries[3].rdev_major, entries[3].rdev_minor), (5, 1));
    }

    #[test]
    fn inodes_are_unique_and_nonzero() {
        let entries = parse(&sample());
        let inodes: HashSet<u32> = entries.iter().map(|entry| entry.inode).collect();
        assert_eq!(inodes.len(), entries.len());
        assert!(!inodes.contains(&0));
    }

    #[test]
    fn archive_is_aligned_and_ends_with_trailer() {
        let archive = sample();
        assert_eq!(archive.len() % 4, 0);
        let trailer_name = format!("{TRAILER}\0");
        let found = archive
            .windows(trailer_name.len())
            .rposition(|window| window == trailer_name.as_bytes());
        assert!(found.is_some(), "no trailer");
    }

    #[test]
    fn empty_archive_is_only_a_trailer() {
        assert!(parse(&Archive::new().finish()).is_empty());
    }

    #[test]
    fn existing_parent_is_not_added_twice() {
        let mut archive = Archive::new();
        archive.add_dir("/dev", 0o700).unwrap();
        archive.add_char_dev("/dev/null", 0o666, 1, 3).unwrap();
        let entries = parse(&archive.finish());
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].mode, S_IFDIR | 0o700);
    }

    #[test]
    fn rejects_entries_under_a_non_directory() {
        let mut archive = Archive::new();
        archive.add_file("/init", 0o755, b"").unwrap();
        assert!(matches!(
            archive.add_file("/init/x", 0o644, b""),
            Err(Error::ParentNotDirectory { .. })
        ));
    }

    #[test]
    fn rejects_duplicates_and_bad_paths() {
        let mut archive = Archive::new();
        archive.add_dir("/etc", 0o755).unwrap();
        assert!(matches!(
            archive.add_dir("etc/", 0o755),
            Err(Error::Duplicate(_))
        ));
        for bad in ["", "/", "a/../b", "a//b", "./a", "a\0b"] {
            assert!(
                matches!(
                    archive.add_file(bad, 0o644, b""),
                    Err(Error::InvalidPath(_))
                ),
                "{bad:?} accepted"
            );
        }
    }
}
