//! The `faultline` binary: the command line, the runner and the store. Each subcommand lives in
//! its own module and owns its clap arguments; raw flags are resolved once (`test_cmd` ->
//! `plan`), and everything below works on the resolved plan. SSH and the local cluster live in
//! `faultline-control`, the databases in `faultline-dbs`.

mod agent;
mod analyze;
mod args;
mod check_cmd;
mod client_check_cmd;
mod cluster_cmd;
mod exit;
mod final_reads;
mod heal_cmd;
mod list_cmd;
mod nemesis_exec;
mod net_probe;
mod perform;
mod phase;
mod plan;
mod report_cmd;
mod resources;
mod runner;
mod store;
mod term;
mod test_all_cmd;
mod test_cmd;

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

// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// Check one or more stored histories (faultline JSONL, Jepsen EDN, Porcupine).
    Check(check_cmd::CheckArgs),
    /// Drive a `--client` subprocess against a running database and report protocol errors.
    ClientCheck(client_check_cmd::ClientCheckArgs),
    /// Build, inspect or tear down the local namespace cluster.
    Cluster(cluster_cmd::ClusterArgs),
    /// Run a test: set up the database, drive clients while the nemesis injects faults, check.
    Test(test_cmd::TestArgs),
    /// A test matrix (Jepsen's test-all): every combination of --db, --workload and --nemesis
    /// lists, one page of verdicts linking to each run; other `test` flags after `--`.
    TestAll(test_all_cmd::TestAllArgs),
    /// Local cluster + etcd + register workload + partitions for 30 s: the quickest look.
    Demo(test_cmd::DemoArgs),
    /// Repair nodes after faultline itself was killed: flush its firewall rules, resume stopped
    /// database processes.
    Heal(heal_cmd::HealArgs),
    /// Re-render run reports (report/index.html) and the store's index.html.
    Report(report_cmd::ReportArgs),
    /// List the runs in the store with their verdicts.
    List(list_cmd::ListArgs),
    /// The packet agent (one per node, started by the nemesis): applies delay, reordering,
    /// duplicates, corruption, loss and rate limits to the packets an NFQUEUE hands it.
    /// Internal: the nemesis starts it on the nodes.
    #[command(hide = true)]
    Agent(agent::AgentArgs),
    /// Network measurements the nemesis runs on the nodes to verify packet faults.
    #[command(hide = true)]
    NetProbe(net_probe::NetProbeArgs),
    /// Measure the runner's own ceiling with an in-memory register (see BENCHMARKS.md).
    #[command(hide = true)]
    BenchRunner {
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long, default_value = "5s", value_parser = test_cmd::parse_duration)]
        duration: std::time::Duration,
        /// Drive this `--client` subprocess per worker instead of the in-memory register.
        #[arg(long)]
        client: Option<String>,
    },
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
    if matches!(cli.command, Command::Check(_) | Command::List(_) | Command::Report(_)) {
        // Behave like a Unix tool when stdout is a closed pipe (`faultline list | head`): exit
        // quietly instead of panicking in println!. Only for commands that write to no ssh
        // pipe, where the default SIGPIPE would kill the process mid-transfer.
        // SAFETY: resetting a signal disposition before any thread starts.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let result = match cli.command {
        Command::Check(args) => check_cmd::run(args),
        Command::Cluster(args) => cluster_cmd::run(args),
        Command::ClientCheck(args) => client_check_cmd::run(args),
        Command::Test(args) => test_cmd::run(args),
        Command::Demo(args) => test_cmd::demo(args),
        Command::TestAll(args) => test_all_cmd::run(args),
        Command::Heal(args) => heal_cmd::run(args),
        Command::Report(args) => report_cmd::run(args),
        Command::List(args) => list_cmd::run(args),
        Command::Agent(args) => agent::run(args).map(|_| Exit::Valid),
        Command::NetProbe(args) => net_probe::run(args).map(|_| Exit::Valid),
        Command::BenchRunner { concurrency, duration, client } => {
            runner::bench_runner(concurrency, duration, client).map(|_| Exit::Valid)
        }
    };
    let code = match result {
        Ok(exit) => exit.code(),
        Err(e) => {
            eprintln!("error: {}", crate::term::text(&format!("{e:#}")));
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
    // Everything logged also goes to the current run's faultline.log (at info, whatever -v says).
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    // `store::say` already printed its messages to stderr; its tracing copies are for the log only.
    let not_said = tracing_subscriber::filter::filter_fn(|m| m.target() != store::SAY_TARGET);
    let stderr =
        tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(not_said).with_filter(filter);
    let run_log = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(store::RunLogWriter)
        .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    let _ = tracing_subscriber::registry().with(stderr).with(run_log).try_init();
}
