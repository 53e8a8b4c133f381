//! Builds the static guest init and packs the guest's initramfs around it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::command::{self, CommandError};
use crate::cpio;

const GUEST_INIT_PACKAGE: &str = "guest-init";

/// Why the initramfs could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("building {package}")]
    Cargo {
        package: &'static str,
        #[source]
        source: CommandError,
    },
    #[error("{} is dynamically linked (has an ELF interpreter); it must be static", .0.display())]
    NotStatic(PathBuf),
    #[error("{} is not a 64-bit ELF executable", .0.display())]
    NotElf(PathBuf),
    #[error("packing the initramfs")]
    Pack(#[from] cpio::Error),
    #[error("{action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Builds guest-init statically and writes `<workspace>/target/runvm/initramfs.cpio`;
/// returns its path.
pub fn build(workspace: &Path) -> Result<PathBuf, Error> {
    let init_path = build_static_binary(workspace, GUEST_INIT_PACKAGE, GUEST_INIT_PACKAGE, &[])?;
    let init = read(&init_path)?;

    let mut archive = cpio::Archive::new();
    archive.add_dir("/dev", 0o755)?;
    archive.add_dir("/proc", 0o555)?;
    archive.add_dir("/sys", 0o555)?;
    // The kernel opens /dev/console for init's stdio before anything could
    // mount devtmpfs, so the node has to be in the archive.
    archive.add_char_dev("/dev/console", 0o600, 5, 1)?;
    archive.add_char_dev("/dev/null", 0o666, 1, 3)?;
    archive.add_file("/init", 0o755, &init)?;

    let out_dir = crate::output_dir(workspace);
    fs::create_dir_all(&out_dir).map_err(|source| Error::Io {
        action: "creating",
        path: out_dir.clone(),
        source,
    })?;
    let output = out_dir.join("initramfs.cpio");
    fs::write(&output, archive.finish()).map_err(|source| Error::Io {
        action: "writing",
        path: output.clone(),
        source,
    })?;
    Ok(output)
}

/// `cargo build --release` of `package` as a static binary for [`crate::TARGET`];
/// returns the path of binary `bin` after checking that it is static.
/// `extra_env` is passed to cargo (e.g. the assets runvm's build script embeds).
pub fn build_static_binary(
    workspace: &Path,
    package: &'static str,
    bin: &str,
    extra_env: &[(&str, &Path)],
) -> Result<PathBuf, Error> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(workspace)
        .args([
            "build",
            "--release",
            "--package",
            package,
            "--target",
            crate::TARGET,
        ])
        .env("RUSTFLAGS", crate::STATIC_RUSTFLAGS)
        // It would take precedence over RUSTFLAGS.
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    for (name, value) in extra_env {
        build.env(name, value);
    }
    command::run(&mut build).map_err(|source| Error::Cargo { package, source })?;

    let binary = crate::cargo_target_dir(workspace)
        .join(crate::TARGET)
        .join("release")
        .join(bin);
    if has_interpreter(&read(&binary)?).ok_or_else(|| Error::NotElf(binary.clone()))? {
        return Err(Error::NotStatic(binary));
    }
    Ok(binary)
}

/// Whether an ELF64 little-endian image asks for a program interpreter
/// (`PT_INTERP`), i.e. is dynamically linked; `None` if it is not such an image.
fn has_interpreter(image: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    if image.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at = |at: usize| Some(u16::from_le_bytes(image.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(image.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(image.get(at..at + 8)?.try_into().ok()?));
    let program_headers = usize::try_from(u64_at(0x20)?).ok()?;
    let entry_size = usize::from(u16_at(0x36)?);
    let entries = usize::from(u16_at(0x38)?);
    for index in 0..entries {
        if u32_at(program_headers.checked_add(index.checked_mul(entry_size)?)?)? == PT_INTERP {
            return Some(true);
        }
    }
    Some(false)
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    fs::read(path).map_err(|source| Error::Io {
        action: "reading",
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_dynamic_and_static_executables() {
        // This test binary is dynamically linked (tests are built without +crt-static).
        let this = fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(has_interpreter(&this), Some(true));
    }

    #[test]
    fn rejects_non_elf_and_truncated_images() {
        assert_eq!(has_interpreter(b"#!/bin/sh\n"), None);
        assert_eq!(has_interpreter(b"\x7fELF\x02\x01\x01\x00"), None);
    }

    #[test]
    fn elf_without_program_headers_has_no_interpreter() {
        let mut header = vec![0u8; 64];
        header[..6].copy_from_slice(b"\x7fELF\x02\x01");
        assert_eq!(has_interpreter(&header), Some(false));
    }
}
