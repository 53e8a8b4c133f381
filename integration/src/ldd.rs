//! The shared libraries an executable needs, to copy them into the test host.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, Result};

/// The files `ldd` says `executable` loads: its shared libraries and the ELF
/// interpreter, at the paths the dynamic loader will look for them. Empty
/// for a static executable.
pub fn shared_libraries(executable: &Path) -> Result<Vec<PathBuf>> {
    let output = Command::new("ldd")
        .arg(executable)
        .output()
        .map_err(Error::io("running ldd"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stdout.contains("statically linked") || stderr.contains("not a dynamic executable") {
        return Ok(Vec::new());
    }
    if !output.status.success() {
        return Err(Error::Setup(format!(
            "ldd {} failed: {}",
            executable.display(),
            stderr.trim()
        )));
    }
    parse_ldd_output(&stdout)
        .map_err(|problem| Error::Setup(format!("ldd {}: {problem}", executable.display())))
}

/// Parses lines like `libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)`
/// and `/lib64/ld-linux-x86-64.so.2 (0x...)`; the vDSO has no file.
fn parse_ldd_output(text: &str) -> Result<Vec<PathBuf>, String> {
    let mut libraries = Vec::new();
    for line in text.lines().map(str::trim).filter(|line| !line.is_empty()) {
        let target = match line.split_once("=>") {
            Some((name, target)) => {
                let target = target.trim();
                if target.starts_with("not found") {
                    return Err(format!("{} not found", name.trim()));
                }
                target
            }
            None => line,
        };
        let path = target.split_whitespace().next().unwrap_or_default();
        if path.starts_with('/') {
            libraries.push(PathBuf::from(path));
        }
    }
    Ok(libraries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_libraries_and_interpreter_but_not_the_vdso() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd1a5f2000)\n\
                    \tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007f0389bde000)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0387e1f000)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f0389c49000)\n";
        assert_eq!(
            parse_ldd_output(text).unwrap(),
            [
                "/lib/x86_64-linux-gnu/libz.so.1",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn a_missing_library_is_an_error_naming_it() {
        let text = "\tlibfoo.so.2 => not found\n";
        assert_eq!(parse_ldd_output(text).unwrap_err(), "libfoo.so.2 not found");
    }

    #[test]
    fn real_ldd_on_a_static_binary_is_empty() {
        if Path::new("/bin/busybox").exists() {
            assert!(shared_libraries(Path::new("/bin/busybox"))
                .unwrap()
                .is_empty());
        }
    }
}
