//! The `faultline` binary: command line, SSH control, local cluster, database adapters,
//! runner and store. Each subcommand lives in its own module and owns its clap arguments.

mod check_cmd;
mod cluster;
mod exit;
mod ssh;
mod store;

use clap::{Parser, Subcommand};
use exit::Exit;

/// Jepsen-style fault-injection testing for distributed databases.
#[derive(Parser, Debug)]
#[command(name = "faultline", version, about, long_about = None)]
struct Cli {
    /// More log output (-v info, -vv debug) on stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check one or more stored histories (faultline JSONL, Jepsen EDN, Porcupine).
    Check(check_cmd::CheckArgs),
    /// Build, inspect or tear down the local namespace cluster.
    Cluster(cluster::ClusterArgs),
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors; everything else clap rejects is a bad argument.
            let code = if e.use_stderr() { Exit::BadArguments.code() } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Check(args) => check_cmd::run(args),
        Command::Cluster(args) => cluster::run(args),
    };
    let code = match result {
        Ok(exit) => exit.code(),
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::code_for_error(&e)
        }
    };
    std::process::exit(code);
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FAULTLINE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
