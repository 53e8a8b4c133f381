//! `cargo xtask`: builds runvm's guest kernel, initramfs and release binary.

use anyhow::Context;
use clap::{Parser, Subcommand};
use xtask::kernel::Flavor;

#[derive(Parser)]
#[command(about = "Build tasks for runvm")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build (or take from the cache) a kernel vmlinux into target/runvm/.
    Kernel {
        #[arg(long, value_enum, default_value = "guest")]
        flavor: Flavor,
    },
    /// Build the static guest init and target/runvm/initramfs.cpio.
    Initramfs,
    /// Build the guest kernel, the initramfs and the static release runvm.
    Build,
    /// List the import circles between the modules of each workspace
    /// crate; fails if there is one.
    Modcycles {
        /// The workspace to check (default: this one).
        workspace: Option<std::path::PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let workspace = xtask::workspace_root();
    match cli.task {
        Task::Kernel { flavor } => {
            let vmlinux = xtask::kernel::build(&workspace, flavor)
                .with_context(|| format!("building the {} kernel", flavor.name()))?;
            println!("{}", vmlinux.display());
        }
        Task::Initramfs => {
            let initramfs =
                xtask::initramfs::build(&workspace).context("building the initramfs")?;
            println!("{}", initramfs.display());
        }
        Task::Build => {
            let outputs = xtask::release::build(&workspace).context("release build")?;
            println!("kernel:    {}", outputs.kernel.display());
            println!("initramfs: {}", outputs.initramfs.display());
            println!("runvm:     {}", outputs.runvm.display());
        }
        Task::Modcycles { workspace: other } => {
            let workspace = other.unwrap_or(workspace);
            let found = xtask::modcycles::workspace_circles(&workspace)
                .context("reading the workspace's crates")?;
            let mut circles = 0;
            for (krate, crate_circles) in &found {
                for circle in crate_circles {
                    println!("{}: {}", krate.display(), circle.modules.join(" <-> "));
                    circles += 1;
                }
            }
            if circles > 0 {
                anyhow::bail!("{circles} import circles in {} crates", found.len());
            }
            println!("no import circle in {} crates", found.len());
        }
    }
    Ok(())
}
