//! `faultline cluster up|down|status|exec`: a sealed local cluster of N nodes on this machine.
//!
//! Node `nI` is a network namespace `fl-nI` (veth `flv-nI` into bridge `fl-br0`, address
//! 10.233.0.(10+I)/24; the host side is 10.233.0.1) with its own PID, UTS and mount namespaces
//! (hostname `nI`, own /proc, its data directory bind-mounted at [`NODE_DATA_DIR`]) whose PID 1 is
//! its own sshd (own host key, one client key shared by the control side). All state lives under
//! [`STATE_DIR`]; `state.json` there describes the running cluster for `faultline test --local`.
//!
//! Sealed: an `unreachable` route for 10.233.0.0/16 stays in the host namespace (the bridge's /24
//! is more specific while the cluster is up) and no node namespace has a default route, so no
//! packet addressed to a test node leaves the machine, during a run or after `down`.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::exit::{bad_input, Exit};
use crate::ssh::{self, NodeSpec, SshOptions};

/// Everything the local cluster keeps on disk.
pub const STATE_DIR: &str = "/var/lib/faultline/cluster";
/// Where each node sees its own data directory (a bind mount private to the node).
pub const NODE_DATA_DIR: &str = "/var/lib/faultline/node";
const BRIDGE: &str = "fl-br0";
/// The cluster's /24 and the /16 that stays unreachable from the host.
const SUBNET: &str = "10.233.0.0/24";
const SEALED_PREFIX: &str = "10.233.0.0/16";
const CONTROL_ADDRESS: &str = "10.233.0.1";
const MAX_NODES: usize = 64;
const SSH_PORT: u16 = 22;
const SSHD: &str = "/usr/sbin/sshd";

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

/// The running local cluster, as written to `state.json`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct LocalCluster {
    pub subnet: String,
    pub sealed_prefix: String,
    pub bridge: String,
    /// The host's address on the bridge: where control traffic (ssh, clients) comes from.
    pub control_address: String,
    pub ssh_port: u16,
    pub user: String,
    pub key_path: PathBuf,
    pub known_hosts_path: PathBuf,
    pub ssh_config_path: PathBuf,
    pub nodes: Vec<LocalNode>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct LocalNode {
    pub name: String,
    pub address: String,
    pub netns: String,
    /// Host side of the node's veth.
    pub veth: String,
    /// The node's data directory as the node sees it (the same path on every node).
    pub data_dir: PathBuf,
    /// The same directory as the host sees it.
    pub host_data_dir: PathBuf,
    /// Host pid of the node's sshd (PID 1 of the node's pid namespace).
    pub sshd_pid: u32,
}

impl LocalCluster {
    /// The nodes as ssh targets.
    pub fn node_specs(&self) -> Vec<NodeSpec> {
        self.nodes
            .iter()
            .map(|n| NodeSpec { name: n.name.clone(), host: n.address.clone(), port: self.ssh_port })
            .collect()
    }

    /// How to log in: the cluster's key, its known_hosts (strict) and its ssh_config.
    pub fn ssh_options(&self) -> SshOptions {
        SshOptions {
            user: self.user.clone(),
            key: Some(self.key_path.clone()),
            strict: true,
            sudo_password: None,
            connect_timeout: Duration::from_secs(5),
            known_hosts: Some(self.known_hosts_path.clone()),
            config_file: Some(self.ssh_config_path.clone()),
        }
    }
}

fn state_dir() -> PathBuf {
    PathBuf::from(STATE_DIR)
}

fn state_file() -> PathBuf {
    state_dir().join("state.json")
}

/// The cluster described by the state file, if there is one (it may have died since: see
/// [`cluster_is_healthy`]).
pub fn load_local_cluster() -> Result<Option<LocalCluster>> {
    let path = state_file();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let cluster =
        serde_json::from_str(&text).with_context(|| format!("{} is not a valid cluster state file", path.display()))?;
    Ok(Some(cluster))
}

/// A running cluster of at least `n` nodes, described with its first `n` nodes; builds one
/// (after cleaning up leftovers, or a cluster that is too small) when there is none. Needs root.
/// Blocking; takes well under a second.
pub fn ensure_local_cluster(n: usize) -> Result<LocalCluster> {
    if !(1..=MAX_NODES).contains(&n) {
        return Err(bad_input(format!("a local cluster has 1 to {MAX_NODES} nodes, not {n}")));
    }
    if let Some(mut c) = load_local_cluster()? {
        if c.nodes.len() >= n && cluster_is_healthy(&c) {
            c.nodes.truncate(n);
            return Ok(c);
        }
    }
    up(n)
}

/// Whether every node's namespace, sshd and ssh port are alive.
pub fn cluster_is_healthy(c: &LocalCluster) -> bool {
    Path::new("/sys/class/net").join(&c.bridge).exists()
        && c.nodes.iter().all(|n| {
            Path::new("/run/netns").join(&n.netns).exists()
                && process_comm(n.sshd_pid).as_deref() == Some("sshd")
                && port_open(&n.address, c.ssh_port)
        })
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

fn require_root(what: &str) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("{what} needs root (it creates network namespaces, veths and a bridge); run it as root or with sudo");
    }
    Ok(())
}

fn running_cluster() -> Result<LocalCluster> {
    match load_local_cluster()? {
        Some(c) if cluster_is_healthy(&c) => Ok(c),
        Some(_) => bail!(
            "the local cluster is not healthy (a node or its sshd is gone); rebuild it with `faultline cluster up`"
        ),
        None => bail!("no local cluster is running; start one with `faultline cluster up`"),
    }
}

// ---------------------------------------------------------------------------------------------
// up

/// Build a fresh cluster of `n` nodes, removing whatever was there first.
fn up(n: usize) -> Result<LocalCluster> {
    require_root("cluster up")?;
    ensure_packages()?;
    teardown().context("cleaning up the previous local cluster")?;
    check_subnet_free()?;
    match build(n) {
        Ok(c) => Ok(c),
        Err(e) => {
            if let Err(clean) = teardown() {
                eprintln!("faultline: cleaning up the half-built cluster also failed: {clean:#}");
            }
            Err(e.context(format!("cannot build the {n}-node local cluster")))
        }
    }
}

fn build(n: usize) -> Result<LocalCluster> {
    let dir = state_dir();
    std::fs::create_dir_all(dir.join("nodes")).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::create_dir_all(NODE_DATA_DIR).with_context(|| format!("cannot create {NODE_DATA_DIR}"))?;
    // sshd's privilege separation directory.
    std::fs::create_dir_all("/run/sshd").context("cannot create /run/sshd")?;

    let key_path = dir.join("id_ed25519");
    ensure_key(&key_path, "faultline-control")?;
    let authorized = dir.join("authorized_keys");
    std::fs::copy(key_path.with_extension("pub"), &authorized).context("cannot write authorized_keys")?;

    let mut nodes = Vec::new();
    let mut known_hosts = String::new();
    for i in 1..=n {
        let name = format!("n{i}");
        let node_dir = dir.join("nodes").join(&name);
        let host_data_dir = node_dir.join("data");
        std::fs::create_dir_all(&host_data_dir)
            .with_context(|| format!("cannot create {}", host_data_dir.display()))?;
        let host_key = node_dir.join("ssh_host_ed25519_key");
        ensure_key(&host_key, &name)?;
        let address = format!("10.233.0.{}", 10 + i);
        let pubkey = std::fs::read_to_string(host_key.with_extension("pub")).context("cannot read a host key")?;
        let mut parts = pubkey.split_whitespace();
        let (kind, body) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        known_hosts.push_str(&format!("{address} {kind} {body}\n"));
        std::fs::write(node_dir.join("sshd_config"), sshd_config(&address, &host_key, &authorized))
            .context("cannot write sshd_config")?;
        nodes.push(LocalNode {
            netns: format!("fl-{name}"),
            veth: format!("flv-{name}"),
            name,
            address,
            data_dir: PathBuf::from(NODE_DATA_DIR),
            host_data_dir,
            sshd_pid: 0,
        });
    }
    let known_hosts_path = dir.join("known_hosts");
    std::fs::write(&known_hosts_path, known_hosts).context("cannot write known_hosts")?;
    let ssh_config_path = dir.join("ssh_config");
    std::fs::write(
        &ssh_config_path,
        format!(
            "# ssh settings for faultline's local cluster (written by `faultline cluster up`)\n\
             Host *\n  User root\n  IdentityFile {key}\n  IdentitiesOnly yes\n  IdentityAgent none\n  \
             UserKnownHostsFile {kh}\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  \
             LogLevel ERROR\n  ServerAliveCountMax 3\n  \
             # the post-quantum default costs ~200 ms of CPU per login; nothing here needs it\n  \
             KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org\n",
            key = key_path.display(),
            kh = known_hosts_path.display()
        ),
    )
    .context("cannot write ssh_config")?;

    build_network(&nodes)?;
    for node in &nodes {
        start_node_sshd(node, &dir.join("nodes").join(&node.name))?;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for node in &mut nodes {
        while !port_open(&node.address, SSH_PORT) {
            if Instant::now() > deadline {
                let log =
                    std::fs::read_to_string(dir.join("nodes").join(&node.name).join("sshd.log")).unwrap_or_default();
                bail!(
                    "node {}: sshd did not start listening on {}:{SSH_PORT} within 5s (sshd.log: {})",
                    node.name,
                    node.address,
                    log.trim()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        node.sshd_pid = find_node_init(&node.netns)?;
    }
    let cluster = LocalCluster {
        subnet: SUBNET.into(),
        sealed_prefix: SEALED_PREFIX.into(),
        bridge: BRIDGE.into(),
        control_address: CONTROL_ADDRESS.into(),
        ssh_port: SSH_PORT,
        user: "root".into(),
        key_path,
        known_hosts_path,
        ssh_config_path,
        nodes,
    };
    let tmp = state_file().with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(&cluster)?).context("cannot write the state file")?;
    std::fs::rename(&tmp, state_file()).context("cannot write the state file")?;
    Ok(cluster)
}

fn sshd_config(address: &str, host_key: &Path, authorized: &Path) -> String {
    format!(
        "# sshd of a faultline local-cluster node (written by `faultline cluster up`)\n\
         ListenAddress {address}:{SSH_PORT}\n\
         HostKey {host_key}\n\
         PidFile none\n\
         AuthorizedKeysFile {authorized}\n\
         PermitRootLogin prohibit-password\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         UsePAM no\n\
         StrictModes no\n\
         UseDNS no\n\
         MaxSessions 64\n\
         MaxStartups 200\n\
         PrintMotd no\n\
         PrintLastLog no\n\
         X11Forwarding no\n\
         # bash sources ~/.bashrc for ssh commands only when SHLVL is below 2 after its increment\n\
         SetEnv SHLVL=1\n\
         Subsystem sftp internal-sftp\n\
         LogLevel ERROR\n",
        host_key = host_key.display(),
        authorized = authorized.display()
    )
}

/// Generate an ed25519 key pair at `path` unless one is there.
fn ensure_key(path: &Path, comment: &str) -> Result<()> {
    if path.exists() && path.with_extension("pub").exists() {
        return Ok(());
    }
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(path.with_extension("pub"));
    let p = path.to_str().ok_or_else(|| anyhow!("non-UTF-8 key path"))?;
    run_checked("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", p])
}

/// Bridge, namespaces and veths, with two `ip -batch` runs plus one per node.
fn build_network(nodes: &[LocalNode]) -> Result<()> {
    let mut host = format!(
        "route replace unreachable {SEALED_PREFIX}\n\
         link add {BRIDGE} type bridge\n\
         addr add {CONTROL_ADDRESS}/24 dev {BRIDGE}\n\
         link set {BRIDGE} up\n"
    );
    for n in nodes {
        host.push_str(&format!(
            "netns add {ns}\nlink add {veth} type veth peer name eth0 netns {ns}\nlink set {veth} master {BRIDGE} up\n",
            ns = n.netns,
            veth = n.veth
        ));
    }
    ip_batch(None, &host)?;
    for n in nodes {
        // Only the connected /24: no default route, so nothing leaves the cluster's subnet.
        ip_batch(Some(&n.netns), &format!("link set lo up\naddr add {}/24 dev eth0\nlink set eth0 up\n", n.address))?;
    }
    Ok(())
}

/// Start the node's sshd as PID 1 of fresh PID, UTS and mount namespaces inside its network
/// namespace, detached from us (`setsid -f`), so it outlives this process.
fn start_node_sshd(node: &LocalNode, node_dir: &Path) -> Result<()> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(node_dir.join("sshd.log"))
        .context("cannot open sshd.log")?;
    let script = format!(
        "hostname {name} && mount --bind {data} {NODE_DATA_DIR} && exec {SSHD} -D -e -f {config}",
        name = node.name,
        data = node.host_data_dir.display(),
        config = node_dir.join("sshd_config").display()
    );
    let mut cmd = Command::new("setsid");
    cmd.args([
        "-f",
        "ip",
        "netns",
        "exec",
        &node.netns,
        "unshare",
        "--pid",
        "--fork",
        "--mount-proc",
        "--uts",
        "sh",
        "-c",
        &script,
    ])
    .stdin(Stdio::null())
    .stdout(log.try_clone()?)
    .stderr(log);
    // The node lives on after we exit: it must not keep any descriptor we inherited (a caller's
    // lock file, a pipe someone waits on to close). Mark every fd above 2 close-on-exec.
    // SAFETY: only an async-signal-safe syscall runs between fork and exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
            libc::syscall(libc::SYS_close_range, 3 as libc::c_uint, libc::c_uint::MAX, CLOSE_RANGE_CLOEXEC);
            Ok(())
        });
    }
    let status = cmd.status().context("cannot run setsid")?;
    if !status.success() {
        bail!("node {}: starting sshd failed ({status})", node.name);
    }
    Ok(())
}

/// The host pid of PID 1 (sshd) in the node's pid namespace.
fn find_node_init(netns: &str) -> Result<u32> {
    for pid in netns_pids(netns) {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let in_ns_pid_is_1 = status
            .lines()
            .find(|l| l.starts_with("NSpid:"))
            .and_then(|l| l.split_whitespace().last())
            .is_some_and(|p| p == "1");
        if in_ns_pid_is_1 && process_comm(pid).as_deref() == Some("sshd") {
            return Ok(pid);
        }
    }
    bail!("cannot find the sshd of namespace {netns}")
}

/// Refuse to build when something else on this machine uses 10.233.0.0/16.
fn check_subnet_free() -> Result<()> {
    let sealed = parse_cidr(SEALED_PREFIX).expect("valid constant");
    let addrs: serde_json::Value =
        serde_json::from_str(&run_output("ip", &["-j", "-4", "addr", "show"])?).context("cannot parse `ip -j addr`")?;
    for link in addrs.as_array().into_iter().flatten() {
        let ifname = link["ifname"].as_str().unwrap_or("?");
        for a in link["addr_info"].as_array().into_iter().flatten() {
            let Some(local) = a["local"].as_str() else { continue };
            if let Some(p) = parse_cidr(&format!("{local}/32")) {
                if overlaps(p, sealed) {
                    bail!("address {local} on {ifname} is inside {SEALED_PREFIX}, the local cluster's subnet; remove it first");
                }
            }
        }
    }
    let routes: serde_json::Value =
        serde_json::from_str(&run_output("ip", &["-j", "-4", "route", "show", "table", "all"])?)
            .context("cannot parse `ip -j route`")?;
    for r in routes.as_array().into_iter().flatten() {
        let dst = r["dst"].as_str().unwrap_or("");
        let Some(p) = parse_cidr(if dst.contains('/') { dst.to_string() } else { format!("{dst}/32") }.as_str()) else {
            continue;
        };
        let ours =
            (dst == SEALED_PREFIX && r["type"].as_str() == Some("unreachable")) || r["dev"].as_str() == Some(BRIDGE);
        if ours || !overlaps(p, sealed) {
            continue;
        }
        if p.1 >= sealed.1 {
            bail!(
                "route {dst} (dev {}) overlaps {SEALED_PREFIX}, the local cluster's subnet; remove it first",
                r["dev"].as_str().unwrap_or("-")
            );
        }
        eprintln!("faultline: note: route {dst} covers {SEALED_PREFIX}; the local cluster makes that part unreachable from this machine");
    }
    Ok(())
}

/// (network, prefix length) of an IPv4 CIDR.
fn parse_cidr(s: &str) -> Option<(u32, u8)> {
    let (addr, len) = s.split_once('/')?;
    let ip: std::net::Ipv4Addr = addr.parse().ok()?;
    let len: u8 = len.parse().ok().filter(|l| *l <= 32)?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Some((u32::from(ip) & mask, len))
}

fn overlaps(a: (u32, u8), b: (u32, u8)) -> bool {
    let len = a.1.min(b.1);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    a.0 & mask == b.0 & mask
}

/// Install the Debian packages the cluster needs, without letting the sshd package start a
/// host-wide sshd.
fn ensure_packages() -> Result<()> {
    ensure_host_packages(CLUSTER_PACKAGES)
}

/// (binary, Debian package) pairs the local cluster needs on the host.
const CLUSTER_PACKAGES: &[(&str, &str)] = &[
    ("sshd", "openssh-server"),
    ("ssh", "openssh-client"),
    ("ssh-keygen", "openssh-client"),
    ("ip", "iproute2"),
    ("iptables", "iptables"),
    ("ps", "procps"),
    ("nc", "netcat-openbsd"),
    ("unshare", "util-linux"),
    ("setsid", "util-linux"),
];

/// Install on this machine the packages of every (binary, package) pair whose binary is missing.
/// The local cluster's nodes share the host's filesystem but have no route to a package mirror,
/// so database packages for them are installed here too. Package scripts may not start daemons.
pub fn ensure_host_packages(needed: &[(&str, &str)]) -> Result<()> {
    let missing: BTreeSet<&str> =
        needed.iter().filter(|(bin, _)| find_binary(bin).is_none()).map(|(_, pkg)| *pkg).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let pkgs: Vec<&str> = missing.into_iter().collect();
    eprintln!("faultline: installing missing packages with apt-get: {}", pkgs.join(" "));
    // Debian starts services from postinst unless policy-rc.d says no; keep one in place while
    // installing (leaving an existing one alone).
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let wrote_policy = !policy.exists();
    if wrote_policy {
        std::fs::write(policy, "#!/bin/sh\n# written by faultline while installing packages\nexit 101\n")
            .context("cannot write policy-rc.d")?;
        set_mode(policy, 0o755)?;
    }
    let host_sshd_before = host_sshd_pids();
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300"])
            .args(&pkgs)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
    };
    let mut result = install();
    if !matches!(&result, Ok(s) if s.success()) {
        eprintln!("faultline: apt-get install failed; running apt-get update and retrying");
        let _ = Command::new("apt-get").arg("update").stdout(Stdio::null()).status();
        result = install();
    }
    if wrote_policy {
        let _ = std::fs::remove_file(policy);
    }
    match result {
        Ok(s) if s.success() => {}
        Ok(s) => bail!("apt-get install {} failed ({s}); install them by hand", pkgs.join(" ")),
        Err(e) => bail!("cannot run apt-get to install {}: {e}", pkgs.join(" ")),
    }
    if pkgs.contains(&"openssh-server") {
        // The host had no sshd before: keep it that way, now and at the next boot.
        let _ = Command::new("systemctl")
            .args(["disable", "--quiet", "ssh.service", "ssh.socket"])
            .stderr(Stdio::null())
            .status();
        for pid in host_sshd_pids().difference(&host_sshd_before) {
            // SAFETY: plain kill(2) of an sshd the package install just started.
            unsafe { libc::kill(*pid as i32, libc::SIGTERM) };
        }
    }
    Ok(())
}

/// sshd processes in the host's own network namespace.
fn host_sshd_pids() -> BTreeSet<u32> {
    let host_ns = std::fs::read_link("/proc/self/ns/net").ok();
    all_pids()
        .into_iter()
        .filter(|p| {
            process_comm(*p).as_deref() == Some("sshd")
                && std::fs::read_link(format!("/proc/{p}/ns/net")).ok() == host_ns
        })
        .collect()
}

fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file());
    found
}

// ---------------------------------------------------------------------------------------------
// down

/// Remove every trace of a local cluster, whether or not a state file describes it: kill every
/// process of every node at once, then delete the veths, then the namespaces, then the bridge.
/// The unreachable route for the sealed prefix stays. Returns how many node namespaces went.
pub fn teardown() -> Result<usize> {
    let namespaces: Vec<String> = list_dir("/run/netns").into_iter().filter(|n| is_node_name(n, "fl-n")).collect();
    let mut pids: BTreeSet<u32> = namespaces.iter().flat_map(|ns| netns_pids(ns)).collect();
    if let Ok(Some(c)) = load_local_cluster() {
        for n in &c.nodes {
            if process_comm(n.sshd_pid).as_deref() == Some("sshd") {
                pids.insert(n.sshd_pid);
            }
        }
    }
    // SAFETY: kill(2) on pids found in our node namespaces (or recorded as our sshds and
    // checked by name just above).
    for pid in &pids {
        unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|p| process_alive(*p)) {
        if Instant::now() > deadline {
            let left: Vec<String> = pids.iter().filter(|p| process_alive(**p)).map(u32::to_string).collect();
            bail!("node processes did not die within 5s of SIGKILL: pids {}", left.join(" "));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let links: Vec<String> = list_dir("/sys/class/net").into_iter().filter(|n| is_node_name(n, "flv-n")).collect();
    let mut batch = String::new();
    for l in &links {
        batch.push_str(&format!("link del {l}\n"));
    }
    for ns in &namespaces {
        batch.push_str(&format!("netns del {ns}\n"));
    }
    if Path::new("/sys/class/net").join(BRIDGE).exists() {
        batch.push_str(&format!("link del {BRIDGE}\n"));
    }
    if !batch.is_empty() {
        // -force: carry on past a link that vanished with its namespace.
        let _ = Command::new("ip")
            .args(["-force", "-batch", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .and_then(|mut c| {
                c.stdin.take().expect("piped").write_all(batch.as_bytes())?;
                c.wait()
            });
    }
    // Keep the seal even if the cluster was never built by this version.
    let _ = Command::new("ip").args(["route", "replace", "unreachable", SEALED_PREFIX]).status();
    let _ = std::fs::remove_file(state_file());
    let left_ns: Vec<String> = list_dir("/run/netns").into_iter().filter(|n| is_node_name(n, "fl-n")).collect();
    let left_links: Vec<String> =
        list_dir("/sys/class/net").into_iter().filter(|n| is_node_name(n, "flv-n") || n == BRIDGE).collect();
    if !left_ns.is_empty() || !left_links.is_empty() {
        bail!("teardown left namespaces [{}] and links [{}] behind", left_ns.join(" "), left_links.join(" "));
    }
    Ok(namespaces.len())
}

/// `fl-n12` style names: the prefix then digits only.
fn is_node_name(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix).is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
}

// ---------------------------------------------------------------------------------------------
// status, exec, bench

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

// ---------------------------------------------------------------------------------------------
// small system helpers

fn run_checked(program: &str, args: &[&str]) -> Result<()> {
    run_output(program, args).map(drop)
}

fn run_output(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    if !out.status.success() {
        bail!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Feed `commands` to `ip -batch -` (in namespace `netns` when given).
fn ip_batch(netns: Option<&str>, commands: &str) -> Result<()> {
    let mut cmd = Command::new("ip");
    if let Some(ns) = netns {
        cmd.args(["-n", ns]);
    }
    let mut child = cmd
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run ip")?;
    child.stdin.take().expect("piped").write_all(commands.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "ip{} -batch failed: {}",
            netns.map(|n| format!(" -n {n}")).unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn netns_pids(netns: &str) -> Vec<u32> {
    run_output("ip", &["netns", "pids", netns])
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn all_pids() -> Vec<u32> {
    list_dir("/proc").into_iter().filter_map(|n| n.parse().ok()).collect()
}

fn list_dir(dir: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

fn process_comm(pid: u32) -> Option<String> {
    if pid == 0 {
        return None;
    }
    std::fs::read_to_string(format!("/proc/{pid}/comm")).ok().map(|s| s.trim_end().to_string())
}

/// Alive and not a zombie.
fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|s| s != "Z" && s != "X"),
        Err(_) => false,
    }
}

fn port_open(address: &str, port: u16) -> bool {
    let Ok(addr) = format!("{address}:{port}").parse::<SocketAddr>() else { return false };
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot chmod {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_overlap() {
        let sealed = parse_cidr(SEALED_PREFIX).unwrap();
        assert!(overlaps(parse_cidr("10.233.5.0/24").unwrap(), sealed));
        assert!(overlaps(parse_cidr("10.0.0.0/8").unwrap(), sealed));
        assert!(!overlaps(parse_cidr("10.234.0.0/16").unwrap(), sealed));
        assert!(!overlaps(parse_cidr("192.0.2.0/24").unwrap(), sealed));
        assert!(parse_cidr("10.0.0.0/33").is_none());
    }

    #[test]
    fn node_names() {
        assert!(is_node_name("fl-n12", "fl-n"));
        assert!(!is_node_name("fl-n", "fl-n"));
        assert!(!is_node_name("fl-nx", "fl-n"));
        assert!(!is_node_name("fl-br0", "fl-n"));
    }

    #[test]
    fn state_round_trips() {
        let c = LocalCluster {
            subnet: SUBNET.into(),
            sealed_prefix: SEALED_PREFIX.into(),
            bridge: BRIDGE.into(),
            control_address: CONTROL_ADDRESS.into(),
            ssh_port: 22,
            user: "root".into(),
            key_path: "/k".into(),
            known_hosts_path: "/kh".into(),
            ssh_config_path: "/c".into(),
            nodes: vec![LocalNode {
                name: "n1".into(),
                address: "10.233.0.11".into(),
                netns: "fl-n1".into(),
                veth: "flv-n1".into(),
                data_dir: NODE_DATA_DIR.into(),
                host_data_dir: "/d".into(),
                sshd_pid: 7,
            }],
        };
        let back: LocalCluster = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        assert_eq!(c.node_specs()[0], NodeSpec { name: "n1".into(), host: "10.233.0.11".into(), port: 22 });
        assert!(c.ssh_options().strict);
    }
}
