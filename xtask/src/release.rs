//! `cargo xtask build`: the guest kernel, the initramfs, and the static
//! release runvm with both embedded.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::{initramfs, kernel};

/// What `build` produced, all under `<workspace>/target/runvm/`.
#[derive(Debug)]
pub struct Outputs {
    pub kernel: PathBuf,
    pub initramfs: PathBuf,
    pub runvm: PathBuf,
}

/// Why the release build failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("building the guest kernel")]
    Kernel(#[from] kernel::Error),
    #[error("building the initramfs or runvm")]
    Initramfs(#[from] initramfs::Error),
    #[error("copying runvm to {path}")]
    Copy {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Builds everything and returns the output paths.
pub fn build(workspace: &Path) -> Result<Outputs, Error> {
    let kernel = kernel::build(workspace, kernel::Flavor::Guest)?;
    let initramfs = initramfs::build(workspace)?;
    // runvm's build script embeds the files these name.
    let assets = [
        ("RUNVM_GUEST_KERNEL", kernel.as_path()),
        ("RUNVM_GUEST_INITRAMFS", initramfs.as_path()),
    ];
    let built = initramfs::build_static_binary(workspace, "runvm", "runvm", &assets)?;
    let runvm = crate::output_dir(workspace).join("runvm");
    fs::copy(&built, &runvm).map_err(|source| Error::Copy {
        path: runvm.clone(),
        source,
    })?;
    Ok(Outputs {
        kernel,
        initramfs,
        runvm,
    })
}
