//! Building the local cluster: keys, sshd configs, the bridge, one namespace set per node.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use super::*;
use crate::sys::{ip_batch, netns_pids, port_open, process_comm, run_checked, run_output};

pub(super) fn build(n: usize) -> Result<LocalCluster> {
    let dir = state_dir();
    std::fs::create_dir_all(dir.join("nodes")).with_context(|| format!("cannot create {}", dir.display()))?;
    for d in NODE_PRIVATE_DIRS {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {d}"))?;
    }
    link_old_state_dir();
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
        let host_data_dir = node_dir.join("root");
        for (sub, mode) in [("root", 0o755), ("tmp", 0o1777), ("run", 0o755)] {
            let d = node_dir.join(sub);
            std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
            crate::sys::set_mode(&d, mode)?;
        }
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
            data_dir: PathBuf::from(NODE_ROOT),
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
        "hostname {name} && mount --bind {dir}/root {NODE_ROOT} && mount --bind {dir}/tmp /tmp && \
         mount --bind {dir}/run /run && mkdir -p /run/sshd && exec {SSHD} -D -e -f {config}",
        name = node.name,
        dir = node_dir.display(),
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
pub(super) fn check_subnet_free() -> Result<()> {
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
pub(super) fn parse_cidr(s: &str) -> Option<(u32, u8)> {
    let (addr, len) = s.split_once('/')?;
    let ip: std::net::Ipv4Addr = addr.parse().ok()?;
    let len: u8 = len.parse().ok().filter(|l| *l <= 32)?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Some((u32::from(ip) & mask, len))
}

pub(super) fn overlaps(a: (u32, u8), b: (u32, u8)) -> bool {
    let len = a.1.min(b.1);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    a.0 & mask == b.0 & mask
}

/// Earlier versions kept the cluster's state (and its client key) under /var/lib/faultline/cluster,
/// which every node now shadows with its own /var/lib/faultline. On the host a link keeps that path
/// working; an existing directory or file there is left alone.
fn link_old_state_dir() {
    let old = Path::new(OLD_STATE_DIR);
    if std::fs::symlink_metadata(old).is_err() {
        let _ = std::os::unix::fs::symlink(STATE_DIR, old);
    }
}
