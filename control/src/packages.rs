//! Host packages: install with apt-get what the local cluster and the databases need on this
//! machine, never letting a package start a host-wide daemon.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::sys::{all_pids, process_comm, set_mode};

/// Install the Debian packages the cluster needs, without letting the sshd package start a
/// host-wide daemon.
pub fn ensure_packages() -> Result<()> {
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
            .args(["install", "-y", "-q", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300"])
            .args(&pkgs)
            .env("DEBIAN_FRONTEND", "noninteractive")
            // Its lines (downloads, "Setting up ...") are the progress of a first run: shown on
            // stderr, where they never mix with a verdict printed as JSON.
            .stdout(std::io::stderr())
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

pub fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file());
    found
}
