//! Builds a kernel `vmlinux` from Debian's `linux-source-6.1` package: a
//! tinyconfig plus the project's config fragments, cached by their hash.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::command::{self, CommandError};

const SOURCE_PACKAGE: &str = "linux-source-6.1";
const SOURCE_TARBALL: &str = "/usr/src/linux-source-6.1.tar.xz";
const GUEST_FRAGMENT: &str = "guest/kernel.config";
const TESTHOST_FRAGMENT: &str = "integration/testhost-kernel.config";
const BUILD_DIR_PREFIX: &str = ".build-";

/// Which kernel to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Flavor {
    /// The kernel runvm boots in each container's microVM.
    Guest,
    /// The nested test host's kernel: the guest's plus KVM and networking.
    Testhost,
}

impl Flavor {
    /// The name used in cache directories and messages.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Guest => "guest",
            Flavor::Testhost => "testhost",
        }
    }

    /// Fragments relative to the workspace, merged in this order.
    fn fragments(self) -> &'static [&'static str] {
        match self {
            Flavor::Guest => &[GUEST_FRAGMENT],
            Flavor::Testhost => &[GUEST_FRAGMENT, TESTHOST_FRAGMENT],
        }
    }

    fn output_name(self) -> &'static str {
        match self {
            Flavor::Guest => "vmlinux",
            Flavor::Testhost => "testhost-vmlinux",
        }
    }
}

/// Why a kernel could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading kernel config fragment {path}")]
    ReadFragment {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("querying the version of the {SOURCE_PACKAGE} package (is it installed?)")]
    PackageVersion(#[source] CommandError),
    #[error("neither RUNVM_CACHE nor HOME is set: nowhere to cache the kernel")]
    NoCacheDir,
    #[error("{step} (build tree kept in {build_dir})")]
    Step {
        step: &'static str,
        build_dir: PathBuf,
        #[source]
        source: CommandError,
    },
    #[error(
        "options from the fragments lost by olddefconfig (missing dependencies?): {}",
        .0.join(", ")
    )]
    OptionsDropped(Vec<String>),
    #[error("{action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Builds (or takes from the cache) the `flavor` kernel and copies it to
/// `<workspace>/target/runvm/`; returns the path of that copy.
pub fn build(workspace: &Path, flavor: Flavor) -> Result<PathBuf, Error> {
    let fragments: Vec<PathBuf> = flavor
        .fragments()
        .iter()
        .map(|fragment| workspace.join(fragment))
        .collect();
    let mut fragment_texts = Vec::new();
    for path in &fragments {
        let text = fs::read_to_string(path).map_err(|source| Error::ReadFragment {
            path: path.clone(),
            source,
        })?;
        fragment_texts.push(text);
    }
    let package_version =
        command::output(Command::new("dpkg-query").args(["-W", "-f=${Version}", SOURCE_PACKAGE]))
            .map_err(Error::PackageVersion)?;

    let kernel_cache = cache_root()?.join("kernel");
    let key = cache_key(&fragment_texts, package_version.trim());
    let cached_dir = kernel_cache.join(format!("{}-{key}", flavor.name()));
    let cached_vmlinux = cached_dir.join("vmlinux");
    create_dir_all(&kernel_cache)?;
    // One build per config at a time: a second caller (another worktree, a
    // test harness) waits here and then finds the first one's result cached,
    // instead of spending the same minutes on a duplicate build.
    let lock_path = kernel_cache.join(format!("{}-{key}.lock", flavor.name()));
    let lock = fs::File::create(&lock_path).map_err(|source| Error::Io {
        action: "creating the build lock",
        path: lock_path.clone(),
        source,
    })?;
    lock.lock().map_err(|source| Error::Io {
        action: "locking",
        path: lock_path,
        source,
    })?;
    if cached_vmlinux.is_file() {
        eprintln!("kernel: cache hit {}", cached_vmlinux.display());
    } else {
        remove_abandoned_builds(&kernel_cache);
        // Named after this process, so that concurrent builds never share a tree.
        let build_dir = kernel_cache.join(format!(
            "{BUILD_DIR_PREFIX}{}-{key}-{}",
            flavor.name(),
            std::process::id()
        ));
        build_uncached(&build_dir, &fragments, &fragment_texts)?;
        // Only a finished build is renamed into place, so an interrupted one
        // never looks cached.
        let finished = build_dir.join("out");
        if let Err(source) = fs::rename(&finished, &cached_dir) {
            // Fine if a concurrent build of the same config got there first.
            if !cached_vmlinux.is_file() {
                return Err(Error::Io {
                    action: "moving the finished build to",
                    path: cached_dir,
                    source,
                });
            }
        }
        remove_in_background(&build_dir);
    }

    let out_dir = crate::output_dir(workspace);
    create_dir_all(&out_dir)?;
    let output = out_dir.join(flavor.output_name());
    fs::copy(&cached_vmlinux, &output).map_err(|source| Error::Io {
        action: "copying the kernel to",
        path: output.clone(),
        source,
    })?;
    Ok(output)
}

/// Removes build trees left by interrupted builds: those whose process
/// (the last `-` field of the name) is gone.
fn remove_abandoned_builds(kernel_cache: &Path) {
    // Best effort: a missing or unreadable cache only means nothing to clean.
    let Ok(entries) = fs::read_dir(kernel_cache) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = builder_pid(&name.to_string_lossy()) else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            eprintln!(
                "kernel: removing abandoned build {}",
                entry.path().display()
            );
            remove_in_background(&entry.path());
        }
    }
}

/// Starts `rm -rf` on a build tree without waiting for it: unlinking the
/// ~90,000 files of a kernel tree takes minutes on some disks, and nothing
/// needs them gone now. A tree left behind is retried by the next build.
fn remove_in_background(tree: &Path) {
    let removal = Command::new("rm")
        .arg("-rf")
        .arg("--")
        .arg(tree)
        // Detached from our stdio, so that whoever reads our output sees its
        // end when we exit, not when rm does.
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    if let Err(error) = removal {
        eprintln!("kernel: not removing {}: {error}", tree.display());
    }
}

/// The pid in a build directory's name `.build-<flavor>-<key>-<pid>`.
fn builder_pid(dir_name: &str) -> Option<u32> {
    dir_name
        .strip_prefix(BUILD_DIR_PREFIX)?
        .rsplit_once('-')?
        .1
        .parse()
        .ok()
}

/// Extracts the source into `build_dir/src`, configures and builds it, and
/// leaves `vmlinux` and `.config` in `build_dir/out`.
fn build_uncached(
    build_dir: &Path,
    fragments: &[PathBuf],
    fragment_texts: &[String],
) -> Result<(), Error> {
    let source_dir = build_dir.join("src");
    create_dir_all(&source_dir)?;
    let step = |step: &'static str, command: &mut Command| {
        command::run(command).map_err(|source| Error::Step {
            step,
            build_dir: build_dir.to_path_buf(),
            source,
        })
    };

    eprintln!(
        "kernel: extracting {SOURCE_TARBALL} into {}",
        source_dir.display()
    );
    step(
        "extracting the kernel source",
        Command::new("tar")
            .arg("-xf")
            .arg(SOURCE_TARBALL)
            .arg("--strip-components=1")
            .arg("-C")
            .arg(&source_dir),
    )?;
    let make = || {
        let mut make = Command::new("make");
        make.current_dir(&source_dir);
        make
    };
    step("make tinyconfig", make().arg("tinyconfig"))?;
    step(
        "merging the config fragments",
        Command::new(source_dir.join("scripts/kconfig/merge_config.sh"))
            .current_dir(&source_dir)
            .arg("-m")
            .arg(".config")
            .args(fragments),
    )?;
    step("make olddefconfig", make().arg("olddefconfig"))?;

    let config_path = source_dir.join(".config");
    let config = fs::read_to_string(&config_path).map_err(|source| Error::Io {
        action: "reading",
        path: config_path.clone(),
        source,
    })?;
    let dropped: Vec<String> = fragment_texts
        .iter()
        .flat_map(|fragment| dropped_options(fragment, &config))
        .collect();
    if !dropped.is_empty() {
        return Err(Error::OptionsDropped(dropped));
    }

    let jobs = std::thread::available_parallelism().map_or(1, |jobs| jobs.get());
    eprintln!("kernel: make -j{jobs} vmlinux");
    step(
        "make vmlinux",
        make().arg(format!("-j{jobs}")).arg("vmlinux"),
    )?;

    let out = build_dir.join("out");
    create_dir_all(&out)?;
    copy(&source_dir.join("vmlinux"), &out.join("vmlinux"))?;
    copy(&config_path, &out.join("config"))?;
    Ok(())
}

/// The `=y` options of `fragment` that `config` does not have as `=y`.
fn dropped_options(fragment: &str, config: &str) -> Vec<String> {
    fragment
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("CONFIG_") && line.ends_with("=y"))
        .filter(|wanted| !config.lines().any(|line| line.trim() == *wanted))
        .map(|wanted| wanted.trim_end_matches("=y").to_owned())
        .collect()
}

/// Hex SHA-256 over the fragments' contents and the source package version.
fn cache_key(fragment_texts: &[String], package_version: &str) -> String {
    let mut hasher = Sha256::new();
    for text in fragment_texts {
        hasher.update(text.as_bytes());
        // A separator, so that moving a line between fragments changes the key.
        hasher.update([0]);
    }
    hasher.update(package_version.as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn cache_root() -> Result<PathBuf, Error> {
    if let Some(cache) = std::env::var_os("RUNVM_CACHE") {
        return Ok(PathBuf::from(cache));
    }
    let home = std::env::var_os("HOME").ok_or(Error::NoCacheDir)?;
    Ok(PathBuf::from(home).join(".cache").join("runvm"))
}

fn create_dir_all(path: &Path) -> Result<(), Error> {
    fs::create_dir_all(path).map_err(|source| Error::Io {
        action: "creating",
        path: path.to_path_buf(),
        source,
    })
}

fn copy(from: &Path, to: &Path) -> Result<(), Error> {
    fs::copy(from, to).map(drop).map_err(|source| Error::Io {
        action: "copying",
        path: from.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_only_lost_builtin_options() {
        let fragment = "# comment\nCONFIG_A=y\nCONFIG_B=y\n# CONFIG_C is not set\nCONFIG_D=m\n";
        let config = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_DA=y\n";
        assert_eq!(dropped_options(fragment, config), ["CONFIG_B"]);
    }

    #[test]
    fn option_must_match_the_whole_line() {
        assert_eq!(
            dropped_options("CONFIG_NET=y\n", "CONFIG_NET_NS=y\n"),
            ["CONFIG_NET"]
        );
    }

    #[test]
    fn finds_the_builder_pid_in_build_dir_names() {
        assert_eq!(builder_pid(".build-guest-0a1b-4242"), Some(4242));
        assert_eq!(builder_pid("guest-0a1b"), None);
        assert_eq!(builder_pid(".build-guest-0a1b"), None);
    }

    #[test]
    fn cache_key_depends_on_fragments_and_version() {
        let guest = vec!["CONFIG_A=y\n".to_owned()];
        let key = cache_key(&guest, "6.1.1-1");
        assert_eq!(key.len(), 64);
        assert_eq!(key, cache_key(&guest, "6.1.1-1"));
        assert_ne!(key, cache_key(&guest, "6.1.1-2"));
        assert_ne!(key, cache_key(&["CONFIG_B=y\n".to_owned()], "6.1.1-1"));
        let split = vec!["CONFIG_A=y\n".to_owned(), String::new()];
        assert_ne!(key, cache_key(&split, "6.1.1-1"));
    }
}
