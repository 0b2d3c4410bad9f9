//! `faultline cluster up|down|status|exec`: the command line over `faultline_control::cluster`.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use faultline_control::cluster::{
    cluster_is_healthy, load_local_cluster, require_root, running_cluster, state_file, teardown, up, LocalCluster,
    MAX_NODES,
};
use faultline_control::ssh;
use faultline_control::sys::{port_open, process_comm};

use crate::exit::{bad_input, Exit};

/// `faultline cluster ...`
#[derive(clap::Args, Debug)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub command: ClusterCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum ClusterCommand {
    /// Build the local cluster (needs root); reports the running one if it is already up.
    Up {
        /// Number of nodes (n1..nN).
        #[arg(long, default_value_t = 5)]
        nodes: usize,
    },
    /// Stop every node process and remove namespaces, links and bridge.
    Down,
    /// Show nodes, addresses and whether each sshd is alive.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run a command on a node over ssh, streaming its output; exits with its status.
    Exec {
        /// Node name (n1..nN).
        node: String,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Measure the control plane on the running cluster (ssh round trips, concurrency).
    #[command(hide = true)]
    Bench {
        /// Sequential warm commands to time.
        #[arg(long, default_value_t = 200)]
        commands: usize,
    },
}

pub fn run(args: ClusterArgs) -> Result<Exit> {
    match args.command {
        ClusterCommand::Up { nodes } => {
            require_root("cluster up")?;
            if !(1..=MAX_NODES).contains(&nodes) {
                return Err(bad_input(format!("--nodes must be between 1 and {MAX_NODES}, got {nodes}")));
            }
            if let Some(c) = load_local_cluster()? {
                if cluster_is_healthy(&c) {
                    if c.nodes.len() != nodes {
                        return Err(bad_input(format!(
                            "a {}-node local cluster is already running; run `faultline cluster down` first to build one with {nodes} nodes",
                            c.nodes.len()
                        )));
                    }
                    println!("local cluster already running: {} nodes", c.nodes.len());
                    print_table(&c);
                    return Ok(Exit::Valid);
                }
            }
            let started = Instant::now();
            let c = up(nodes)?;
            println!("local cluster up: {} nodes in {:.2}s", c.nodes.len(), started.elapsed().as_secs_f64());
            print_table(&c);
            Ok(Exit::Valid)
        }
        ClusterCommand::Down => {
            require_root("cluster down")?;
            let removed = teardown()?;
            if removed == 0 {
                println!("no local cluster was running; nothing left behind");
            } else {
                println!("local cluster down: removed {removed} nodes");
            }
            Ok(Exit::Valid)
        }
        ClusterCommand::Status { json } => status(json),
        ClusterCommand::Exec { node, command } => exec(&node, &command),
        ClusterCommand::Bench { commands } => bench(commands),
    }
}

fn status(json: bool) -> Result<Exit> {
    let cluster = load_local_cluster()?;
    let Some(c) = cluster else {
        if json {
            println!("{}", serde_json::json!({ "running": false, "state_file": state_file() }));
        } else {
            println!("no local cluster (no {})", state_file().display());
        }
        return Ok(Exit::Valid);
    };
    let live: Vec<bool> = c
        .nodes
        .iter()
        .map(|n| process_comm(n.sshd_pid).as_deref() == Some("sshd") && port_open(&n.address, c.ssh_port))
        .collect();
    let healthy = cluster_is_healthy(&c);
    if json {
        let mut v = serde_json::to_value(&c)?;
        v["running"] = serde_json::json!(healthy);
        v["state_file"] = serde_json::json!(state_file());
        for (node, up) in v["nodes"].as_array_mut().into_iter().flatten().zip(&live) {
            node["sshd_alive"] = serde_json::json!(up);
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "local cluster: {} nodes, subnet {}, control address {}, {}",
            c.nodes.len(),
            c.subnet,
            c.control_address,
            if healthy { "running" } else { "NOT healthy (rebuild with `faultline cluster up`)" }
        );
        print_table(&c);
    }
    Ok(Exit::Valid)
}

fn print_table(c: &LocalCluster) {
    println!("{:<6} {:<14} {:<22} DATA (host path)", "NODE", "ADDRESS", "SSHD");
    for n in &c.nodes {
        let alive = process_comm(n.sshd_pid).as_deref() == Some("sshd") && port_open(&n.address, c.ssh_port);
        let sshd = if alive { format!("up (pid {})", n.sshd_pid) } else { "down".to_string() };
        println!("{:<6} {:<14} {:<22} {}", n.name, n.address, sshd, n.host_data_dir.display());
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")
}

fn exec(node: &str, command: &[String]) -> Result<Exit> {
    let c = running_cluster()?;
    let Some(spec) = c.node_specs().into_iter().find(|s| s.name == node) else {
        let names: Vec<&str> = c.nodes.iter().map(|n| n.name.as_str()).collect();
        return Err(bad_input(format!("no node {node:?} in the local cluster (nodes: {})", names.join(", "))));
    };
    let opts = c.ssh_options();
    let argv: Vec<&str> = command.iter().map(String::as_str).collect();
    let code = runtime()?.block_on(async {
        let node = ssh::Node::connect(&spec, &opts).await?;
        node.run_interactive(&argv).await
    })?;
    // The remote status is our exit status, whatever it is.
    std::process::exit(code);
}

fn bench(commands: usize) -> Result<Exit> {
    let c = running_cluster()?;
    let specs = c.node_specs();
    let opts = c.ssh_options();
    runtime()?.block_on(async {
        let t = Instant::now();
        let nodes = ssh::connect_all(&specs, &opts).await?;
        println!("connect {} masters in parallel: {:.1} ms", nodes.len(), ms(t.elapsed()));
        let node = &nodes[0];
        let timeout = Duration::from_secs(10);
        node.run(&["true"], timeout).await?;
        let mut samples = Vec::with_capacity(commands);
        for _ in 0..commands.max(1) {
            let t = Instant::now();
            let out = node.run(&["true"], timeout).await?;
            if !out.success() {
                bail!("`true` exited {}", out.status);
            }
            samples.push(t.elapsed());
        }
        samples.sort();
        let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
        let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p) as usize];
        println!(
            "warm command round trip (`true` on {}, {} runs): mean {:.2} ms, p50 {:.2} ms, p99 {:.2} ms",
            node.name,
            samples.len(),
            ms(mean),
            ms(pct(0.5)),
            ms(pct(0.99))
        );
        let t = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..50 {
            let node = nodes[i % nodes.len()].clone();
            tasks.push(tokio::spawn(async move {
                node.run(&["sh", "-c", "echo $(hostname)"], Duration::from_secs(30)).await
            }));
        }
        let mut ok = 0;
        for task in tasks {
            if task.await.map_err(|e| anyhow!("{e}"))??.success() {
                ok += 1;
            }
        }
        println!("50 concurrent commands across {} nodes: {ok} ok in {:.1} ms", nodes.len(), ms(t.elapsed()));
        let addr = &c.nodes[0].address;
        let cfg = c.ssh_config_path.display().to_string();
        let runs = 10;
        let t = Instant::now();
        for _ in 0..runs {
            let s = tokio::process::Command::new("ssh").args(["-F", &cfg, addr, "true"]).status().await?;
            if !s.success() {
                bail!("plain ssh to {addr} failed: {s}");
            }
        }
        println!(
            "plain `ssh {addr} true` process (no multiplexing, {runs} runs): mean {:.1} ms",
            ms(t.elapsed()) / runs as f64
        );
        Ok(())
    })?;
    Ok(Exit::Valid)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
