//! The runvm command line: runc's global flags and verbs.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use runvm::commands::{self, CommandError, GlobalFlags};
use runvm::container::exec::ExecEnd;
use runvm::error_chain::error_chain;
use runvm::{exit, logging};

/// A runc-compatible OCI runtime that runs each container in its own KVM
/// microVM.
#[derive(Parser, Debug)]
#[command(name = "runvm", version = VERSION, disable_version_flag = true)]
struct Cli {
    /// Root directory for container state.
    #[arg(long, global = true, default_value = "/run/runvm")]
    root: PathBuf,
    /// Append log output to this file.
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Log debug output.
    #[arg(long, global = true)]
    debug: bool,
    /// Read linux.cgroupsPath as systemd's slice:prefix:name.
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    /// Print the version.
    #[arg(long, short = 'v')]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

/// `runvm --version`, shaped like runc's.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit: ",
    env!("RUNVM_COMMIT"),
    "\nspec: ",
    runvm::oci_version!()
);

#[derive(Subcommand, Debug)]
enum Command {
    Boot(commands::boot::Boot),
    Create(commands::create::Create),
    Start(commands::start::Start),
    Run(commands::run::Run),
    State(commands::state::State),
    Kill(commands::kill::Kill),
    Delete(commands::delete::Delete),
    List(commands::list::List),
    Ps(commands::ps::Ps),
    Exec(commands::exec::Exec),
    Pause(commands::pause::Pause),
    Resume(commands::resume::Resume),
    Events(commands::events::Events),
    Update(commands::update::Update),
    Features(commands::features::Features),
    Spec(commands::spec::Spec),
    #[command(hide = true)]
    Monitor(commands::monitor::Monitor),
}

fn fail(err: &(dyn std::error::Error + 'static)) -> ExitCode {
    logging::fatal(&error_chain(err));
    ExitCode::FAILURE
}

fn done(result: Result<(), CommandError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

fn main() -> ExitCode {
    vmm::timing::init();
    vmm::timing::mark("cli start");
    let cli = Cli::parse();
    if cli.version {
        println!("runvm version {VERSION}");
        return ExitCode::SUCCESS;
    }
    // Their stderr may be the stream a container process inherits.
    let stderr = match cli.command {
        Some(Command::Create(_) | Command::Run(_) | Command::Exec(_) | Command::Monitor(_)) => {
            logging::Stderr::MaybeContainers
        }
        _ => logging::Stderr::Own,
    };
    let json = cli.log_format == "json";
    if let Err(err) = logging::init(cli.log.as_deref(), json, cli.debug, stderr) {
        return fail(&err);
    }
    tracing::debug!(root = %cli.root.display(), systemd_cgroup = cli.systemd_cgroup, "runvm starting");
    let flags = GlobalFlags {
        log: cli.log.clone(),
        log_format: cli.log_format.clone(),
        debug: cli.debug,
        systemd_cgroup: cli.systemd_cgroup,
    };
    let root = cli.root.as_path();
    let Some(command) = cli.command else {
        logging::fatal("no command given; see runvm --help");
        return ExitCode::FAILURE;
    };
    match command {
        Command::Boot(boot) => match boot.run(root) {
            Ok(status) => exit::mirror_exit(status),
            Err(err) => fail(&err),
        },
        Command::Create(create) => done(create.run(root, &flags).map(drop)),
        Command::Start(start) => done(start.run(root)),
        Command::Run(run) => match run.run(root, &flags) {
            Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(255)),
            Err(err) => fail(&err),
        },
        Command::State(state) => done(state.run(root)),
        Command::Kill(kill) => done(kill.run(root)),
        Command::Delete(delete) => done(delete.run(root)),
        Command::List(list) => done(list.run(root)),
        Command::Ps(ps) => done(ps.run(root)),
        Command::Pause(pause) => done(pause.run(root)),
        Command::Resume(resume) => done(resume.run(root)),
        Command::Events(events) => done(events.run(root)),
        Command::Update(update) => done(update.run(root)),
        Command::Exec(exec) => match exec.run(root) {
            Ok(ExecEnd::Exited(status)) => exit::mirror_exit(status),
            Ok(ExecEnd::Detached) => ExitCode::SUCCESS,
            // It said why on the ready pipe, to the exec that forked it.
            Ok(ExecEnd::RelayFailed) => ExitCode::FAILURE,
            Err(err) => fail(&err),
        },
        Command::Features(features) => done(features.run()),
        Command::Spec(spec) => done(spec.run()),
        Command::Monitor(monitor) => match monitor.run(root, &flags) {
            Some(status) => exit::mirror_exit(status),
            None => ExitCode::FAILURE,
        },
    }
}
