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
    }
    Ok(())
}
