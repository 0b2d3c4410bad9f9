//! An in-memory `Control` for tests: it records every argv, keeps per-node iptables chains, jumps,
//! qdiscs, database state and clock offsets from the commands it is given, and answers TCP probes
//! from those rules (a connect works unless either end has an active DROP rule for the other's
//! address; random-loss rules are recorded but never drop a probe). It never runs anything.
//!
//! Knobs simulate trouble: `ignore_rules` (rules are accepted but have no effect, as when a rule
//! lands in a chain nothing jumps to), `netem` (kernel with or without the qdisc modules),
//! `unreachable` nodes (every command errors), `shared_clock`, `primaries`.

use std::collections::{BTreeMap, BTreeSet};
use std::future::{ready, Future};
use std::sync::Mutex;

use crate::control::{DbControl, Output, Shell};
use crate::render::{CHAIN, QDISC_HANDLE};

/// The database's state on a fake node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbState {
    Running,
    Killed,
    Paused,
}

#[derive(Debug, Clone, Default)]
struct Table {
    /// `None` = no FAULTLINE chain.
    chain: Option<Vec<Vec<String>>>,
    /// Builtin chains that jump to FAULTLINE, one entry per jump.
    jumps: Vec<String>,
}

#[derive(Debug, Clone)]
struct FakeNode {
    tables: BTreeMap<String, Table>,
    /// dev -> number of filters under faultline's root qdisc (present = root qdisc exists).
    qdiscs: BTreeMap<String, usize>,
    db: DbState,
    clock_ms: i64,
}

#[derive(Debug)]
struct State {
    nodes: BTreeMap<String, FakeNode>,
    calls: Vec<(String, Vec<String>)>,
    db_calls: Vec<(String, &'static str)>,
}

/// See the module docs.
#[derive(Debug)]
pub struct FakeControl {
    names: Vec<String>,
    pub ignore_rules: bool,
    pub netem: bool,
    pub shared_clock: bool,
    /// The faultline binary the fake claims the nodes have (the packet agent is never run).
    pub agent_binary: Option<String>,
    pub primaries: Vec<String>,
    pub unreachable: BTreeSet<String>,
    /// Whether the fake database can be failed over (promote / follow are recorded as db calls).
    pub failover: bool,
    /// Whether the fake database runs under libfaketime (then `clock` works on a shared clock, and
    /// the database tells its time); otherwise it refuses, as etcd does.
    pub faketime: bool,
    state: Mutex<State>,
}

fn out(status: i32, stdout: impl Into<String>, stderr: impl Into<String>) -> Output {
    Output { status, stdout: stdout.into(), stderr: stderr.into() }
}

impl FakeControl {
    /// `n` nodes n1..nN at 10.233.0.11.., all databases running, netem available, own clocks.
    pub fn new(n: usize) -> FakeControl {
        let names: Vec<String> = (1..=n).map(|i| format!("n{i}")).collect();
        let nodes = names
            .iter()
            .map(|name| {
                let node =
                    FakeNode { tables: BTreeMap::new(), qdiscs: BTreeMap::new(), db: DbState::Running, clock_ms: 0 };
                (name.clone(), node)
            })
            .collect();
        FakeControl {
            names,
            ignore_rules: false,
            netem: true,
            shared_clock: false,
            agent_binary: None,
            primaries: Vec::new(),
            unreachable: BTreeSet::new(),
            failover: false,
            faketime: false,
            state: Mutex::new(State { nodes, calls: Vec::new(), db_calls: Vec::new() }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panicking test thread poisons the lock; the data is still fine to read.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every command run, in order: (node, argv).
    pub fn calls(&self) -> Vec<(String, Vec<String>)> {
        self.lock().calls.clone()
    }

    /// Every process-control call: (node, "kill" | "restart" | "pause" | "resume").
    pub fn db_calls(&self) -> Vec<(String, &'static str)> {
        self.lock().db_calls.clone()
    }

    pub fn clear_calls(&self) {
        let mut s = self.lock();
        s.calls.clear();
        s.db_calls.clear();
    }

    /// The FAULTLINE rules of `node` in `bin` (empty when there is no chain).
    pub fn rules(&self, node: &str, bin: &str) -> Vec<Vec<String>> {
        self.lock().nodes[node].tables.get(bin).and_then(|t| t.chain.clone()).unwrap_or_default()
    }

    /// Whether `node` has the chain / jumps in `bin`.
    pub fn has_chain(&self, node: &str, bin: &str) -> bool {
        self.lock().nodes[node].tables.get(bin).is_some_and(|t| t.chain.is_some())
    }

    pub fn jumps(&self, node: &str, bin: &str) -> Vec<String> {
        self.lock().nodes[node].tables.get(bin).map(|t| t.jumps.clone()).unwrap_or_default()
    }

    pub fn db(&self, node: &str) -> DbState {
        self.lock().nodes[node].db
    }

    pub fn set_db(&self, node: &str, db: DbState) {
        self.lock().nodes.get_mut(node).expect("known node").db = db;
    }

    pub fn clock_ms(&self, node: &str) -> i64 {
        self.lock().nodes[node].clock_ms
    }

    /// Devices with faultline's root qdisc on `node`.
    pub fn qdisc_devs(&self, node: &str) -> Vec<String> {
        self.lock().nodes[node].qdiscs.keys().cloned().collect()
    }

    /// Commands the fake did not understand (a test asserts there are none).
    pub fn unknown_commands(&self) -> Vec<(String, Vec<String>)> {
        self.calls().into_iter().filter(|(_, argv)| classify(argv).is_none()).collect()
    }

    /// Put a rule into `node`'s chain directly (as if left over from a crashed run), creating the
    /// chain and jumps.
    pub fn plant_rule(&self, node: &str, bin: &str, spec: Vec<String>) {
        let mut s = self.lock();
        let t = s.nodes.get_mut(node).expect("known node").tables.entry(bin.to_string()).or_default();
        t.chain.get_or_insert_with(Vec::new).push(spec);
        for b in ["INPUT", "OUTPUT"] {
            if !t.jumps.iter().any(|j| j == b) {
                t.jumps.push(b.to_string());
            }
        }
    }

    /// Put faultline's root qdisc on `node`'s `dev` directly.
    pub fn plant_qdisc(&self, node: &str, dev: &str) {
        self.lock().nodes.get_mut(node).expect("known node").qdiscs.insert(dev.to_string(), 0);
    }

    fn node_by_address(&self, addr: &str) -> Option<String> {
        self.names.iter().find(|n| self.address(n) == addr).cloned()
    }

    /// Whether `node` drops every packet from `from` (an active DROP rule for its address).
    fn drops(&self, s: &State, node: &str, from: &str) -> bool {
        if self.ignore_rules {
            return false;
        }
        let addr = self.address(from);
        s.nodes[node].tables.values().any(|t| {
            t.jumps.iter().any(|j| j == "INPUT")
                && t.chain.as_ref().is_some_and(|rules| {
                    rules.iter().any(|r| r.len() == 4 && r[0] == "-s" && r[1] == addr && r[3] == "DROP")
                })
        })
    }

    fn exec(&self, node: &str, argv: Vec<String>) -> anyhow::Result<Output> {
        if self.unreachable.contains(node) {
            anyhow::bail!("{node} is unreachable (fake)");
        }
        let mut s = self.lock();
        s.calls.push((node.to_string(), argv.clone()));
        let a: Vec<&str> = argv.iter().map(String::as_str).collect();
        let Some(kind) = classify(&argv) else {
            return Ok(out(127, "", format!("fake: unknown command {}", argv.join(" "))));
        };
        Ok(match kind {
            Kind::Iptables => self.iptables(&mut s, node, &a),
            // The fake has no packet agent: stopping one finds none.
            Kind::NoAgent => out(0, "", ""),
            Kind::RouteGet => out(0, format!("{} dev eth0 src {} uid 0 \\    cache", a[4], self.address(node)), ""),
            Kind::Tc => self.tc(&mut s, node, &a),
            Kind::NetemProbe => {
                if self.netem {
                    out(0, "kernel=6.1.0-fake\ntc=yes\nsch_netem=loaded\nsch_prio=loaded\ncls_u32=loaded\n", "")
                } else {
                    out(
                        0,
                        "kernel=6.18.44-fake\ntc=yes\nsch_netem=missing\nsch_prio=missing\ncls_u32=loaded\n\
                            # CONFIG_NET_SCH_NETEM is not set\n# CONFIG_NET_SCH_PRIO is not set\n",
                        "",
                    )
                }
            }
            Kind::Clock => {
                // The first bump is the net offset; strobe flips cancel out.
                let d: i64 = a[2]
                    .split("-v d=")
                    .nth(1)
                    .and_then(|r| r.split(' ').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                s.nodes.get_mut(node).expect("known node").clock_ms += d;
                out(0, "", "")
            }
            Kind::Faketime => {
                // The first value written is the offset the script ends at.
                let spec = a[2].split("printf '%s\\n' '").nth(1).and_then(|r| r.split('\'').next()).unwrap_or("+0");
                let ms = (spec.parse::<f64>().unwrap_or(0.0) * 1000.0).round() as i64;
                s.nodes.get_mut(node).expect("known node").clock_ms = ms;
                out(0, "", "")
            }
            Kind::FaketimeReset => {
                let n = s.nodes.get_mut(node).expect("known node");
                let had = self.faketime && n.clock_ms != 0;
                if self.faketime {
                    n.clock_ms = 0;
                }
                out(0, if had { "reset\n" } else { "" }, "")
            }
            Kind::Date => {
                let t = crate::faketime::unix_now() + s.nodes[node].clock_ms as f64 / 1000.0;
                out(0, format!("{t:.9}\n"), "")
            }
            Kind::Probe => {
                let target =
                    a[4].strip_prefix("exec 3<>/dev/tcp/").and_then(|r| r.rsplit_once('/')).map(|(addr, _)| addr);
                match target.and_then(|addr| self.node_by_address(addr)) {
                    Some(to) if !self.drops(&s, &to, node) && !self.drops(&s, node, &to) => out(0, "", ""),
                    Some(_) => out(124, "", ""),
                    None => out(1, "", "bash: connect: No route to host"),
                }
            }
        })
    }

    fn iptables(&self, s: &mut State, node: &str, a: &[&str]) -> Output {
        let t = s.nodes.get_mut(node).expect("known node").tables.entry(a[0].to_string()).or_default();
        let no_chain = || out(1, "", format!("{}: No chain/target/match by that name.", a[0]));
        let bad_rule = || out(1, "", format!("{}: Bad rule (does a matching rule exist in that chain?).", a[0]));
        match (a[2], a.get(3).copied()) {
            ("-S", Some(CHAIN)) => match &t.chain {
                Some(rules) => {
                    let mut listing = format!("-N {CHAIN}\n");
                    for r in rules {
                        listing.push_str(&format!("-A {CHAIN} {}\n", r.join(" ")));
                    }
                    out(0, listing, "")
                }
                None => no_chain(),
            },
            ("-N", Some(CHAIN)) => {
                if t.chain.is_some() {
                    out(1, "", format!("{}: Chain already exists.", a[0]))
                } else {
                    t.chain = Some(Vec::new());
                    out(0, "", "")
                }
            }
            ("-F", Some(CHAIN)) => match &mut t.chain {
                Some(rules) => {
                    rules.clear();
                    out(0, "", "")
                }
                None => no_chain(),
            },
            ("-X", Some(CHAIN)) => match &t.chain {
                None => no_chain(),
                Some(r) if !r.is_empty() => out(1, "", "iptables: Directory not empty."),
                Some(_) if !t.jumps.is_empty() => out(1, "", "iptables: Too many links."),
                Some(_) => {
                    t.chain = None;
                    out(0, "", "")
                }
            },
            ("-A", Some(CHAIN)) => match &mut t.chain {
                Some(rules) => {
                    rules.push(a[4..].iter().map(|w| w.to_string()).collect());
                    out(0, "", "")
                }
                None => no_chain(),
            },
            ("-D", Some(CHAIN)) => {
                let spec: Vec<String> = a[4..].iter().map(|w| w.to_string()).collect();
                match &mut t.chain {
                    Some(rules) => match rules.iter().position(|r| *r == spec) {
                        Some(i) => {
                            rules.remove(i);
                            out(0, "", "")
                        }
                        None => bad_rule(),
                    },
                    None => no_chain(),
                }
            }
            ("-C", Some(builtin)) => {
                if t.jumps.iter().any(|j| j == builtin) {
                    out(0, "", "")
                } else {
                    bad_rule()
                }
            }
            ("-I", Some(builtin)) => {
                if t.chain.is_none() {
                    out(2, "", format!("{}: Couldn't load target `{CHAIN}'", a[0]))
                } else {
                    t.jumps.push(builtin.to_string());
                    out(0, "", "")
                }
            }
            ("-D", Some(builtin)) => match t.jumps.iter().position(|j| j == builtin) {
                Some(i) => {
                    t.jumps.remove(i);
                    out(0, "", "")
                }
                None => bad_rule(),
            },
            _ => out(2, "", format!("fake: unsupported iptables call {}", a.join(" "))),
        }
    }

    fn tc(&self, s: &mut State, node: &str, a: &[&str]) -> Output {
        let q = &mut s.nodes.get_mut(node).expect("known node").qdiscs;
        let unknown_kind = || out(2, "", "Error: Specified qdisc kind is unknown.");
        match a[1..] {
            ["qdisc", "show"] => {
                let mut listing = String::from("qdisc noqueue 0: dev lo root refcnt 2\n");
                for dev in q.keys() {
                    listing.push_str(&format!("qdisc prio {QDISC_HANDLE} dev {dev} root refcnt 2 bands 4 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1\n"));
                }
                out(0, listing, "")
            }
            ["qdisc", "add", "dev", dev, "root", "handle", QDISC_HANDLE, ..] => {
                if !self.netem {
                    unknown_kind()
                } else if q.contains_key(dev) {
                    out(2, "", "Error: Exclusivity flag on, cannot modify.")
                } else {
                    q.insert(dev.to_string(), 0);
                    out(0, "", "")
                }
            }
            ["qdisc", "add", "dev", dev, "parent", ..] | ["filter", "add", "dev", dev, ..] => {
                if !self.netem {
                    unknown_kind()
                } else if let Some(filters) = q.get_mut(dev) {
                    *filters += (a[1] == "filter") as usize;
                    out(0, "", "")
                } else {
                    out(2, "", "Error: Parent Qdisc doesn't exists.")
                }
            }
            ["qdisc", "del", "dev", dev, "root", "handle", QDISC_HANDLE] => {
                if q.remove(dev).is_some() {
                    out(0, "", "")
                } else {
                    out(2, "", "Error: Cannot find specified qdisc on specified device.")
                }
            }
            _ => out(2, "", format!("fake: unsupported tc call {}", a.join(" "))),
        }
    }

    fn db_op(&self, node: &str, op: &'static str) -> anyhow::Result<String> {
        if self.unreachable.contains(node) {
            anyhow::bail!("{node} is unreachable (fake)");
        }
        let mut s = self.lock();
        s.db_calls.push((node.to_string(), op));
        let n = s.nodes.get_mut(node).ok_or_else(|| anyhow::anyhow!("unknown node {node}"))?;
        let pid = 1000 + self.names.iter().position(|x| x == node).unwrap_or(0);
        Ok(match (op, n.db) {
            ("kill", DbState::Killed) => anyhow::bail!("{node}: the database is not running"),
            ("kill", _) => {
                n.db = DbState::Killed;
                format!("SIGKILL pid {pid}")
            }
            ("restart", _) => {
                n.db = DbState::Running;
                format!("started pid {pid}")
            }
            ("pause", DbState::Running) => {
                n.db = DbState::Paused;
                format!("SIGSTOP pid {pid}")
            }
            ("pause", _) => anyhow::bail!("{node}: the database is not running"),
            ("resume", DbState::Paused) => {
                n.db = DbState::Running;
                format!("SIGCONT pid {pid}")
            }
            _ => String::new(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Iptables,
    RouteGet,
    Tc,
    NetemProbe,
    Clock,
    Probe,
    NoAgent,
    Faketime,
    FaketimeReset,
    Date,
}

fn classify(argv: &[String]) -> Option<Kind> {
    let a: Vec<&str> = argv.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["iptables" | "ip6tables", "-w", _, _, ..] => Some(Kind::Iptables),
        ["ip", "-o", "route", "get", _] => Some(Kind::RouteGet),
        ["tc", _, _, ..] => Some(Kind::Tc),
        ["sh", "-c", s] if s.contains("sch_netem") => Some(Kind::NetemProbe),
        ["sh", "-c", s] if s.contains("date -s") => Some(Kind::Clock),
        ["sh", "-c", s] if s.contains("rm -f /run/faultline/faketime") => Some(Kind::FaketimeReset),
        ["sh", "-c", s] if s.contains("> /run/faultline/faketime.tmp") => Some(Kind::Faketime),
        ["date", "+%s.%N"] => Some(Kind::Date),
        ["sh", "-c", s, ..] if s.contains("pidfile") && s.contains("agent") => Some(Kind::NoAgent),
        ["timeout", _, "bash", "-c", s] if s.starts_with("exec 3<>/dev/tcp/") => Some(Kind::Probe),
        _ => None,
    }
}

impl Shell for FakeControl {
    fn nodes(&self) -> Vec<String> {
        self.names.clone()
    }
    fn address(&self, node: &str) -> String {
        let i = self.names.iter().position(|n| n == node).unwrap_or(200);
        format!("10.233.0.{}", 11 + i)
    }
    fn control_addresses(&self) -> Vec<String> {
        vec!["10.233.0.1".into()]
    }
    fn shared_clock(&self) -> bool {
        self.shared_clock
    }
    fn probe_port(&self) -> u16 {
        22
    }
    fn agent_binary(&self) -> Option<String> {
        self.agent_binary.clone()
    }
    fn run(&self, node: &str, argv: Vec<String>) -> impl Future<Output = anyhow::Result<Output>> + Send {
        ready(self.exec(node, argv))
    }
}

impl DbControl for FakeControl {
    fn kill_db(&self, node: &str) -> impl Future<Output = anyhow::Result<String>> + Send {
        ready(self.db_op(node, "kill"))
    }
    fn restart_db(&self, node: &str) -> impl Future<Output = anyhow::Result<String>> + Send {
        ready(self.db_op(node, "restart"))
    }
    fn pause_db(&self, node: &str) -> impl Future<Output = anyhow::Result<String>> + Send {
        ready(self.db_op(node, "pause"))
    }
    fn resume_db(&self, node: &str) -> impl Future<Output = anyhow::Result<String>> + Send {
        ready(self.db_op(node, "resume"))
    }
    fn primaries(&self) -> impl Future<Output = anyhow::Result<Vec<String>>> + Send {
        ready(Ok(self.primaries.clone()))
    }
    fn supports_failover(&self) -> bool {
        self.failover
    }
    fn per_process_clock_refusal(&self) -> Option<String> {
        (!self.faketime).then(|| "the fake database does not run under libfaketime".to_string())
    }
    fn db_time(&self, node: &str) -> impl Future<Output = anyhow::Result<Option<f64>>> + Send {
        let t = self.faketime.then(|| crate::faketime::unix_now() + self.clock_ms(node) as f64 / 1000.0);
        ready(Ok(t))
    }
    fn promote(&self, node: &str) -> impl Future<Output = anyhow::Result<String>> + Send {
        self.lock().db_calls.push((node.to_string(), "promote"));
        ready(Ok(format!("{node} promoted")))
    }
    fn follow(&self, primary: &str) -> impl Future<Output = anyhow::Result<String>> + Send {
        self.lock().db_calls.push((primary.to_string(), "follow"));
        ready(Ok(format!("the others follow {primary}")))
    }
}
