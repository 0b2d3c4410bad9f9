//! The engine against real kernels: five network namespaces of this machine joined by a bridge in a
//! sixth (nothing in the host namespace, so no packet can leave), a `Control` that runs argv with
//! `ip netns exec`, and a `sleep` per node standing in for the database. Partitions are applied with
//! real iptables and verified with real TCP probes; heal and `heal_nodes` are checked against the
//! kernel's own listing. Needs root; skipped (with a message) otherwise, except under the test command
//! (FAULTLINE_REQUIRE_ROOT), where that fails. The namespaces are named
//! after this process, so the test never touches the local cluster's (`fl-*`) namespaces.

use std::collections::BTreeMap;
use std::future::Future;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use faultline_nemeses::control::{DbControl, Shell};
use faultline_nemeses::{heal_nodes, Fault, Nemesis, NemesisOptions, Output, Targets};

struct NetnsCluster {
    prefix: String,
    names: Vec<String>,
    dbs: Mutex<BTreeMap<String, Child>>,
}

fn sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl NetnsCluster {
    /// `tag` keeps the namespaces of tests running at the same time apart.
    fn up(tag: &str, n: usize) -> Option<NetnsCluster> {
        let uid = Command::new("id").arg("-u").output().ok()?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" || !sh(&["iptables", "--version"]) {
            // scripts/test sets FAULTLINE_REQUIRE_ROOT: there a skip would be a test that cannot fail.
            if std::env::var_os("FAULTLINE_REQUIRE_ROOT").is_some() {
                panic!("needs root and iptables, and FAULTLINE_REQUIRE_ROOT is set");
            }
            eprintln!("skipped: needs root and iptables");
            return None;
        }
        let prefix = format!("flc{}{tag}", std::process::id());
        let c = NetnsCluster {
            prefix: prefix.clone(),
            names: (1..=n).map(|i| format!("n{i}")).collect(),
            dbs: Mutex::new(BTreeMap::new()),
        };
        let hub = format!("{prefix}-hub");
        assert!(sh(&["ip", "netns", "add", &hub]));
        assert!(sh(&["ip", "-n", &hub, "link", "add", "br0", "type", "bridge"]));
        assert!(sh(&["ip", "-n", &hub, "link", "set", "br0", "up"]));
        for (i, name) in c.names.iter().enumerate() {
            let ns = c.ns(name);
            let v = format!("v{i}");
            assert!(sh(&["ip", "netns", "add", &ns]));
            assert!(sh(&["ip", "-n", &hub, "link", "add", &v, "type", "veth", "peer", "name", "eth0", "netns", &ns]));
            assert!(sh(&["ip", "-n", &hub, "link", "set", &v, "master", "br0", "up"]));
            assert!(sh(&["ip", "-n", &ns, "addr", "add", &format!("{}/24", c.addr(name)), "dev", "eth0"]));
            assert!(sh(&["ip", "-n", &ns, "link", "set", "eth0", "up"]));
            assert!(sh(&["ip", "-n", &ns, "link", "set", "lo", "up"]));
            c.start_db(name);
        }
        Some(c)
    }

    fn ns(&self, node: &str) -> String {
        format!("{}-{node}", self.prefix)
    }

    fn addr(&self, node: &str) -> String {
        let i = self.names.iter().position(|n| n == node).expect("known node");
        format!("10.250.7.{}", 11 + i)
    }

    fn start_db(&self, node: &str) -> u32 {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(node), "sleep", "600"])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn db stand-in");
        let pid = child.id();
        self.dbs.lock().unwrap().insert(node.to_string(), child);
        pid
    }

    fn db_pid(&self, node: &str) -> anyhow::Result<u32> {
        self.dbs.lock().unwrap().get(node).map(Child::id).ok_or_else(|| anyhow::anyhow!("{node}: database not running"))
    }

    fn state(pid: u32) -> Option<char> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next())
    }

    /// Signal delivery is asynchronous: give the kernel a moment to stop the process.
    fn wait_stopped(pid: u32) -> Option<char> {
        let mut state = None;
        for _ in 0..100 {
            state = Self::state(pid);
            if state == Some('T') {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        state
    }

    fn signal(pid: u32, sig: &str) -> anyhow::Result<()> {
        anyhow::ensure!(sh(&["kill", sig, &pid.to_string()]), "kill {sig} {pid} failed");
        Ok(())
    }

    fn iptables_listing(&self, node: &str, args: &[&str]) -> String {
        let o =
            Command::new("ip").args(["netns", "exec", &self.ns(node), "iptables", "-w"]).args(args).output().unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for NetnsCluster {
    fn drop(&mut self) {
        for (_, mut child) in std::mem::take(&mut *self.dbs.lock().unwrap_or_else(|p| p.into_inner())) {
            let _ = Command::new("kill").args(["-CONT", &child.id().to_string()]).status();
            let _ = child.kill();
            let _ = child.wait();
        }
        for name in &self.names {
            sh(&["ip", "netns", "del", &self.ns(name)]);
        }
        sh(&["ip", "netns", "del", &format!("{}-hub", self.prefix)]);
    }
}

impl Shell for NetnsCluster {
    fn nodes(&self) -> Vec<String> {
        self.names.clone()
    }
    fn address(&self, node: &str) -> String {
        self.addr(node)
    }
    fn shared_clock(&self) -> bool {
        true
    }
    fn probe_port(&self) -> u16 {
        // Nothing listens: a refused connect proves the link carries packets both ways.
        22
    }
    fn run(&self, node: &str, argv: Vec<String>) -> impl Future<Output = anyhow::Result<Output>> + Send {
        let ns = self.ns(node);
        async move {
            let o = tokio::process::Command::new("ip").args(["netns", "exec", &ns]).args(&argv).output().await?;
            Ok(Output {
                status: o.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            })
        }
    }
}

impl DbControl for NetnsCluster {
    fn kill_db(&self, node: &str) -> impl Future<Output = anyhow::Result<String>> + Send {
        let r = (|| {
            let mut child =
                self.dbs.lock().unwrap().remove(node).ok_or_else(|| anyhow::anyhow!("{node}: not running"))?;
            let pid = child.id();
            child.kill()?;
            child.wait()?;
            Ok(format!("SIGKILL pid {pid}"))
        })();
        std::future::ready(r)
    }
    fn restart_db(&self, node: &str) -> impl Future<Output = anyhow::Result<String>> + Send {
        std::future::ready(Ok(format!("started pid {}", self.start_db(node))))
    }
    fn pause_db(&self, node: &str) -> impl Future<Output = anyhow::Result<String>> + Send {
        std::future::ready(
            self.db_pid(node).and_then(|pid| Self::signal(pid, "-STOP").map(|_| format!("SIGSTOP pid {pid}"))),
        )
    }
    fn resume_db(&self, node: &str) -> impl Future<Output = anyhow::Result<String>> + Send {
        let r = match self.db_pid(node) {
            Ok(pid) if Self::state(pid) == Some('T') => {
                Self::signal(pid, "-CONT").map(|_| format!("SIGCONT pid {pid}"))
            }
            _ => Ok(String::new()),
        };
        std::future::ready(r)
    }
    fn primaries(&self) -> impl Future<Output = anyhow::Result<Vec<String>>> + Send {
        std::future::ready(Ok(vec!["n1".to_string()]))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_partitions_verify_stop_and_heal() {
    let Some(cluster) = NetnsCluster::up("a", 5) else { return };
    let mut nem = Nemesis::new(&cluster, 42, NemesisOptions::default());

    for fault in [
        Fault::PartitionHalves,
        Fault::PartitionRing,
        Fault::PartitionBridge,
        Fault::PartitionOneway,
        Fault::PartitionLeader,
    ] {
        let v = nem.start(fault, None, None, None).await.unwrap();
        assert_eq!(v["verified"], true, "{fault}: {v}");
        let s = nem.stop(fault).await.unwrap();
        assert_eq!(s["verified"], true, "{fault} stop: {s}");
        eprintln!(
            "{fault}: apply {} ms + verify {} ms, heal {} ms + verify {} ms",
            v["apply_ms"], v["verify_ms"], s["heal_ms"], s["verify_ms"]
        );
    }

    // Flaky rules (statistic match) are accepted and deleted exactly by the kernel.
    let f = nem.start(Fault::Flaky, Some(Targets::All), None, None).await.unwrap();
    assert_eq!(f["verified"], true, "{f}");
    assert!(cluster.iptables_listing("n1", &["-S", "FAULTLINE"]).contains("statistic"));
    let s = nem.stop(Fault::Flaky).await.unwrap();
    assert_eq!(s["verified"], true, "{s}");
    assert!(!cluster.iptables_listing("n1", &["-S", "FAULTLINE"]).contains("-A FAULTLINE"));

    // Processes: kill and pause, undone by heal_all.
    nem.start(Fault::Kill, None, Some(vec!["n2".into()]), None).await.unwrap();
    let pause = nem.start(Fault::Pause, None, Some(vec!["n3".into()]), None).await.unwrap();
    assert_eq!(pause["verified"], true);
    let paused_pid = cluster.db_pid("n3").unwrap();
    assert_eq!(NetnsCluster::wait_stopped(paused_pid), Some('T'));
    nem.start(Fault::PartitionOne, None, None, None).await.unwrap();
    let heal = nem.heal_all().await;
    assert!(heal.verified(), "{}", heal.value());
    assert!(cluster.db_pid("n2").is_ok());
    assert_ne!(NetnsCluster::state(paused_pid), Some('T'));
    let again = nem.heal_all().await;
    assert!(again.lines.is_empty() && again.verified(), "{:?}", again.lines);

    // Clock is refused here (one kernel clock).
    assert!(nem.start(Fault::Clock, None, None, None).await.is_err());

    // Teardown leaves INPUT/OUTPUT as they were.
    let report = nem.teardown().await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    for n in cluster.nodes() {
        assert!(!cluster.iptables_listing(&n, &["-S"]).contains("FAULTLINE"), "{n}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_heal_nodes_after_a_crashed_harness_and_netem_probe() {
    let Some(cluster) = NetnsCluster::up("b", 3) else { return };
    {
        let mut nem = Nemesis::new(&cluster, 7, NemesisOptions::default());
        let v = nem.start(Fault::PartitionOne, None, None, None).await.unwrap();
        assert_eq!(v["verified"], true, "{v}");
        nem.start(Fault::Pause, None, Some(vec!["n2".into()]), None).await.unwrap();
        assert_eq!(NetnsCluster::wait_stopped(cluster.db_pid("n2").unwrap()), Some('T'));
        // The engine is dropped without healing, as when the harness is SIGKILLed.
    }
    let report = heal_nodes(&cluster).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.fixed.iter().any(|l| l.contains("removed iptables chain FAULTLINE")), "{:?}", report.fixed);
    // heal_nodes needs only the shell; the stopped database is the database control's to resume.
    assert_eq!(NetnsCluster::wait_stopped(cluster.db_pid("n2").unwrap()), Some('T'));
    assert!(cluster.resume_db("n2").await.unwrap().contains("SIGCONT"));
    for n in cluster.nodes() {
        assert!(!cluster.iptables_listing(&n, &["-S"]).contains("FAULTLINE"), "{n}");
    }
    assert!(heal_nodes(&cluster).await.fixed.is_empty());

    // `slow` on this kernel: either netem works, or the probe says exactly why not.
    let mut nem = Nemesis::new(&cluster, 8, NemesisOptions::default());
    let unsupported = nem.unsupported_faults().await;
    let slow = nem.start(Fault::Slow, None, None, None).await.unwrap();
    match unsupported.iter().find(|(f, _)| *f == Fault::Slow) {
        Some((_, why)) => {
            eprintln!("slow unsupported here: {why}");
            assert!(why.contains("sch_netem") || why.contains("sch_prio"), "{why}");
            assert_eq!(slow["verified"], false, "{slow}");
        }
        None => assert_eq!(slow["verified"], true, "{slow}"),
    }
    let r = nem.heal_all().await;
    assert!(r.verified(), "{}", r.value());
}
