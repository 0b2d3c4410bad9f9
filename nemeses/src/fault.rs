//! The fault vocabulary: fault names, `--nemesis`, `--nemesis-targets` and `--loss` parsing, and the
//! seeded choice of target nodes.
//!
//! Every parser returns an error that names the bad word and lists the valid ones, so the binary
//! can print it as is and exit with "bad arguments".

use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One kind of fault the nemesis can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// Isolate one node from every other node.
    PartitionOne,
    /// Cut the cluster into two random halves.
    PartitionHalves,
    /// Every node sees a majority, no two nodes see the same majority.
    PartitionRing,
    /// Two halves joined by one node that sees both.
    PartitionBridge,
    /// Isolate the current primaries (found through `Control::primaries`).
    PartitionLeader,
    /// Asymmetric: one half drops the other half's packets; the other half still hears it.
    PartitionOneway,
    /// Random packet loss between nodes (iptables `statistic` match).
    Flaky,
    /// Delay between nodes (`tc netem` where the kernel has it, otherwise the packet agent).
    Slow,
    /// Send a fraction of the packets between nodes twice (packet agent).
    Duplicate,
    /// Hold a fraction of the packets back so later ones overtake them (packet agent).
    Reorder,
    /// Flip a bit in a fraction of payloads, checksums recomputed (packet agent).
    Corrupt,
    /// Limit the rate of the traffic between nodes (packet agent).
    Bandwidth,
    /// SIGKILL the database; restart it when the fault stops.
    Kill,
    /// SIGSTOP the database; SIGCONT it when the fault stops.
    Pause,
    /// Bump and strobe the wall clock; undo the bump when the fault stops.
    Clock,
    /// Primary/replica databases (Redis): partition the primary away, promote a replica and send
    /// the clients to it; when the fault stops, heal and make the old primary follow the new one.
    Failover,
}

impl Fault {
    /// Every fault, in the order they are listed to users.
    pub const ALL: [Fault; 16] = [
        Fault::PartitionOne,
        Fault::PartitionHalves,
        Fault::PartitionRing,
        Fault::PartitionBridge,
        Fault::PartitionLeader,
        Fault::PartitionOneway,
        Fault::Flaky,
        Fault::Slow,
        Fault::Duplicate,
        Fault::Reorder,
        Fault::Corrupt,
        Fault::Bandwidth,
        Fault::Kill,
        Fault::Pause,
        Fault::Clock,
        Fault::Failover,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::PartitionOne => "partition-one",
            Fault::PartitionHalves => "partition-halves",
            Fault::PartitionRing => "partition-ring",
            Fault::PartitionBridge => "partition-bridge",
            Fault::PartitionLeader => "partition-leader",
            Fault::PartitionOneway => "partition-oneway",
            Fault::Flaky => "flaky",
            Fault::Slow => "slow",
            Fault::Duplicate => "duplicate",
            Fault::Reorder => "reorder",
            Fault::Corrupt => "corrupt",
            Fault::Bandwidth => "bandwidth",
            Fault::Kill => "kill",
            Fault::Pause => "pause",
            Fault::Clock => "clock",
            Fault::Failover => "failover",
        }
    }

    /// Parse one fault name; the error names the word and lists the valid names.
    pub fn parse(word: &str) -> Result<Fault, String> {
        let word = word.trim();
        Fault::ALL
            .into_iter()
            .find(|f| f.name() == word)
            .ok_or_else(|| format!("unknown fault '{word}'; valid faults: {}", Fault::valid_names()))
    }

    /// The fault names joined with ", ".
    pub fn valid_names() -> String {
        Fault::ALL.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
    }

    /// The engine module that applies it, and so the tools it needs.
    pub fn family(self) -> Family {
        match self {
            Fault::PartitionOne
            | Fault::PartitionHalves
            | Fault::PartitionRing
            | Fault::PartitionBridge
            | Fault::PartitionLeader
            | Fault::PartitionOneway => Family::Partition,
            Fault::Flaky => Family::Flaky,
            Fault::Slow => Family::Slow,
            Fault::Duplicate | Fault::Reorder | Fault::Corrupt | Fault::Bandwidth => Family::Packet,
            Fault::Kill | Fault::Pause => Family::Process,
            Fault::Clock => Family::Clock,
            Fault::Failover => Family::Failover,
        }
    }

    /// What the database adapter must be able to do for this fault, if anything beyond nodes
    /// reachable over SSH; preflight refuses the fault (or `all` leaves it out) without it.
    pub fn needs(self) -> Option<DbCapability> {
        match self {
            Fault::Kill => Some(DbCapability::KillAndRestart),
            Fault::Pause => Some(DbCapability::Pause),
            Fault::PartitionLeader => Some(DbCapability::NamePrimaries),
            Fault::Failover => Some(DbCapability::Promote),
            Fault::PartitionOne
            | Fault::PartitionHalves
            | Fault::PartitionRing
            | Fault::PartitionBridge
            | Fault::PartitionOneway
            | Fault::Flaky
            | Fault::Slow
            | Fault::Duplicate
            | Fault::Reorder
            | Fault::Corrupt
            | Fault::Bandwidth
            | Fault::Clock => None,
        }
    }

    /// The tools every node needs for this fault (checked by preflight).
    pub fn required_tools(self) -> &'static [&'static str] {
        self.family().required_tools()
    }

    pub fn is_partition(self) -> bool {
        self.family() == Family::Partition
    }

    /// Whether `--nemesis-targets` chooses the affected nodes (partitions draw their own topology).
    pub fn uses_targets(self) -> bool {
        matches!(self, Fault::Flaky | Fault::Slow | Fault::Kill | Fault::Pause | Fault::Clock) || self.needs_agent()
    }

    /// Faults only the packet agent can do (`slow` uses it where the kernel has no netem).
    pub fn needs_agent(self) -> bool {
        self.family() == Family::Packet
    }

    /// The targets used when `--nemesis-targets` is not given.
    pub fn default_targets(self) -> Targets {
        match self.family() {
            Family::Process => Targets::One,
            Family::Partition | Family::Flaky | Family::Slow | Family::Packet | Family::Clock | Family::Failover => {
                Targets::All
            }
        }
    }
}

/// The families of faults: one engine module each (`engine::partition`, `packet`, `queued`,
/// `process`, `clock`), with the tools its commands run on the nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// iptables DROP rules between groups of nodes.
    Partition,
    /// iptables `statistic` packet loss.
    Flaky,
    /// tc netem delay, or the packet agent where the kernel has no netem.
    Slow,
    /// The packet agent (NFQUEUE): duplicate, reorder, corrupt, bandwidth.
    Packet,
    /// Signals to the database's process: kill, pause.
    Process,
    /// libfaketime offsets (or the wall clock where nodes have their own).
    Clock,
    /// Partition the primary away and promote a replica.
    Failover,
}

impl Family {
    /// The tools every node needs for faults of this family.
    pub fn required_tools(self) -> &'static [&'static str] {
        match self {
            Family::Partition | Family::Failover => &["iptables", "timeout", "bash"],
            Family::Flaky => &["iptables"],
            Family::Slow => &["tc", "ip"],
            Family::Packet => &["iptables", "setsid"],
            Family::Process => &["pgrep", "awk", "kill"],
            Family::Clock => &["date"],
        }
    }
}

/// What a fault needs the database adapter to do (`Fault::needs`); the binary asks the adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbCapability {
    /// Kill one node's database and start it again.
    KillAndRestart,
    /// SIGSTOP and SIGCONT one node's database.
    Pause,
    /// Name the current primaries or leaders.
    NamePrimaries,
    /// Promote a replica to primary.
    Promote,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What `--nemesis` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NemesisChoice {
    /// `none`: no faults.
    None,
    /// `all`: every fault the target supports (resolved against the cluster by `resolve`), except
    /// the byzantine packet faults, which are run only when named.
    All,
    /// An explicit list (duplicates removed, order kept).
    Faults(Vec<Fault>),
}

impl NemesisChoice {
    /// Parse `--nemesis a,b,c`. Accepts `none`, `all`, fault names, and `partition` as a shorthand for
    /// every partition topology.
    pub fn parse(spec: &str) -> Result<NemesisChoice, String> {
        let words: Vec<&str> = spec.split(',').map(str::trim).collect();
        if words.iter().all(|w| w.is_empty()) {
            return Err(format!(
                "--nemesis is empty; give 'none', 'all' or a comma-separated list of: {}",
                Fault::valid_names()
            ));
        }
        let mut faults: Vec<Fault> = Vec::new();
        let mut push = |f: Fault| {
            if !faults.contains(&f) {
                faults.push(f)
            }
        };
        let (mut none, mut all) = (false, false);
        for word in &words {
            match *word {
                "" => return Err(format!("--nemesis '{spec}' has an empty entry (two commas in a row?)")),
                "none" => none = true,
                "all" => all = true,
                "partition" => Fault::ALL.into_iter().filter(|f| f.is_partition()).for_each(&mut push),
                w => push(
                    Fault::parse(w)
                        .map_err(|e| format!("--nemesis: {e}; also 'none', 'all', 'partition' (every partition-*)"))?,
                ),
            }
        }
        match (none, all) {
            (true, _) if words.len() > 1 => {
                Err(format!("--nemesis '{spec}': 'none' cannot be combined with other faults"))
            }
            (true, _) => Ok(NemesisChoice::None),
            (false, true) if words.len() > 1 => {
                Err(format!("--nemesis '{spec}': 'all' already includes every fault; give it alone"))
            }
            (false, true) => Ok(NemesisChoice::All),
            (false, false) => Ok(NemesisChoice::Faults(faults)),
        }
    }

    /// The concrete faults to use, given which faults the cluster supports (`unsupported` pairs each
    /// fault the cluster cannot do with the reason). `all` silently drops the unsupported ones; an
    /// explicit request for an unsupported fault is an error carrying the reason.
    pub fn resolve(&self, unsupported: &[(Fault, String)]) -> Result<Vec<Fault>, String> {
        let why = |f: Fault| unsupported.iter().find(|(u, _)| *u == f).map(|(_, r)| r.clone());
        match self {
            NemesisChoice::None => Ok(Vec::new()),
            // Byzantine links (duplicate, reorder, corrupt, bandwidth) break what most databases
            // promise to survive: they are run when named, not as part of `all`.
            NemesisChoice::All => {
                Ok(Fault::ALL.into_iter().filter(|f| why(*f).is_none() && !f.needs_agent()).collect())
            }
            NemesisChoice::Faults(faults) => {
                let refused: Vec<String> = faults.iter().filter_map(|f| why(*f).map(|r| format!("{f}: {r}"))).collect();
                if refused.is_empty() {
                    Ok(faults.clone())
                } else {
                    Err(format!("--nemesis asks for faults this cluster cannot do: {}", refused.join("; ")))
                }
            }
        }
    }
}

/// Which nodes a fault hits (`--nemesis-targets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Targets {
    One,
    /// A strict minority: (n-1)/2 nodes.
    Minority,
    /// n/2 + 1 nodes.
    Majority,
    All,
    /// The nodes `Control::primaries` reports.
    Primaries,
}

impl Targets {
    pub const ALL: [Targets; 5] =
        [Targets::One, Targets::Minority, Targets::Majority, Targets::All, Targets::Primaries];

    pub fn name(self) -> &'static str {
        match self {
            Targets::One => "one",
            Targets::Minority => "minority",
            Targets::Majority => "majority",
            Targets::All => "all",
            Targets::Primaries => "primaries",
        }
    }

    /// Parse `--nemesis-targets`; the error names the word and lists the valid ones.
    pub fn parse(word: &str) -> Result<Targets, String> {
        let word = word.trim();
        Targets::ALL.into_iter().find(|t| t.name() == word).ok_or_else(|| {
            let valid: Vec<&str> = Targets::ALL.iter().map(|t| t.name()).collect();
            format!("unknown --nemesis-targets '{word}'; valid: {}", valid.join(", "))
        })
    }

    /// Choose the target nodes with `rng`. `primaries` is only consulted for `Targets::Primaries`.
    pub fn choose<R: Rng>(self, nodes: &[String], primaries: &[String], rng: &mut R) -> Result<Vec<String>, String> {
        let n = nodes.len();
        let count = match self {
            Targets::One => 1,
            Targets::Minority => (n.saturating_sub(1)) / 2,
            Targets::Majority => n / 2 + 1,
            Targets::All => n,
            Targets::Primaries => {
                let chosen: Vec<String> = nodes.iter().filter(|x| primaries.contains(x)).cloned().collect();
                if chosen.is_empty() {
                    return Err("targets 'primaries': the database reported no primary among the nodes".into());
                }
                return Ok(chosen);
            }
        };
        if n == 0 {
            return Err("there are no nodes to choose targets from".into());
        }
        if count == 0 {
            return Err(format!("targets '{}': {n} node(s) have no strict minority; use 'one'", self.name()));
        }
        let mut shuffled = nodes.to_vec();
        shuffled.shuffle(rng);
        shuffled.truncate(count.min(n));
        // Keep the cluster's order so values read naturally (n1, n3 rather than n3, n1).
        shuffled.sort_by_key(|x| nodes.iter().position(|y| y == x));
        Ok(shuffled)
    }
}

impl fmt::Display for Targets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parse `--loss P`: a probability in (0, 1].
pub fn parse_loss(word: &str) -> Result<f64, String> {
    let p: f64 =
        word.trim().parse().map_err(|_| format!("--loss '{word}' is not a number; give a probability such as 0.2"))?;
    if !(p > 0.0 && p <= 1.0) {
        return Err(format!("--loss '{word}' must be a probability greater than 0 and at most 1, e.g. 0.2"));
    }
    Ok(p)
}

/// Parse a probability flag (`--duplicate 0.1`): a number in (0, 1].
pub fn parse_probability(flag: &str, word: &str) -> Result<f64, String> {
    let p: f64 =
        word.trim().parse().map_err(|_| format!("{flag} '{word}' is not a number; give a probability such as 0.1"))?;
    if !(p > 0.0 && p <= 1.0) {
        return Err(format!("{flag} '{word}' must be a probability greater than 0 and at most 1, e.g. 0.1"));
    }
    Ok(p)
}

/// Parse `--bandwidth`: a rate such as `1mbit`, `500kbit`, `2000000` (bits per second).
pub fn parse_bandwidth(word: &str) -> Result<u64, String> {
    let w = word.trim().to_ascii_lowercase();
    let (num, mult) = if let Some(n) = w.strip_suffix("gbit") {
        (n, 1_000_000_000.0)
    } else if let Some(n) = w.strip_suffix("mbit") {
        (n, 1_000_000.0)
    } else if let Some(n) = w.strip_suffix("kbit") {
        (n, 1_000.0)
    } else if let Some(n) = w.strip_suffix("bit") {
        (n, 1.0)
    } else {
        (w.as_str(), 1.0)
    };
    let v: f64 = num.trim().parse().map_err(|_| {
        format!("--bandwidth '{word}' is not a rate; give bits per second such as 1mbit, 500kbit or 2000000")
    })?;
    let bps = (v * mult).round();
    if bps.is_nan() || bps < 8_000.0 {
        return Err(format!("--bandwidth '{word}' is too low; give at least 8kbit"));
    }
    Ok(bps as u64)
}

/// Default packet-loss probability of `flaky`.
pub const DEFAULT_LOSS: f64 = 0.2;

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn nodes(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    #[test]
    fn parses_fault_lists() {
        assert_eq!(NemesisChoice::parse("none").unwrap(), NemesisChoice::None);
        assert_eq!(NemesisChoice::parse("all").unwrap(), NemesisChoice::All);
        assert_eq!(
            NemesisChoice::parse("kill, partition-ring,kill").unwrap(),
            NemesisChoice::Faults(vec![Fault::Kill, Fault::PartitionRing])
        );
        let NemesisChoice::Faults(p) = NemesisChoice::parse("partition").unwrap() else { panic!() };
        assert_eq!(p.len(), 6);
        assert!(p.iter().all(|f| f.is_partition()));
        for f in Fault::ALL {
            assert_eq!(Fault::parse(f.name()).unwrap(), f);
            assert_eq!(serde_json::to_value(f).unwrap(), serde_json::json!(f.name()));
        }
    }

    #[test]
    fn bad_fault_names_are_named_and_valid_ones_listed() {
        let e = NemesisChoice::parse("kill,partiton-ring").unwrap_err();
        assert!(e.contains("'partiton-ring'"), "{e}");
        assert!(e.contains("partition-ring") && e.contains("clock") && e.contains("none"), "{e}");
        assert!(NemesisChoice::parse("none,kill").unwrap_err().contains("none"));
        assert!(NemesisChoice::parse("all,kill").unwrap_err().contains("all"));
        assert!(NemesisChoice::parse("").is_err());
        assert!(NemesisChoice::parse("kill,,pause").unwrap_err().contains("empty"));
    }

    #[test]
    fn resolve_drops_unsupported_for_all_and_refuses_explicit() {
        let unsupported = vec![(Fault::Clock, "nodes share one clock".to_string())];
        let all = NemesisChoice::All.resolve(&unsupported).unwrap();
        assert_eq!(all.len(), Fault::ALL.len() - 5, "all but clock and the four byzantine packet faults");
        assert!(all.contains(&Fault::Slow) && !all.contains(&Fault::Corrupt));
        assert!(!all.contains(&Fault::Clock));
        let e = NemesisChoice::parse("kill,clock").unwrap().resolve(&unsupported).unwrap_err();
        assert!(e.contains("clock: nodes share one clock"), "{e}");
        assert_eq!(NemesisChoice::None.resolve(&unsupported).unwrap(), vec![]);
    }

    #[test]
    fn targets_parse_and_sizes() {
        assert_eq!(Targets::parse("majority").unwrap(), Targets::Majority);
        let e = Targets::parse("most").unwrap_err();
        assert!(e.contains("'most'") && e.contains("minority") && e.contains("primaries"), "{e}");
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for n in 1..=9 {
            let ns = nodes(n);
            assert_eq!(Targets::One.choose(&ns, &[], &mut rng).unwrap().len(), 1);
            assert_eq!(Targets::All.choose(&ns, &[], &mut rng).unwrap(), ns);
            let maj = Targets::Majority.choose(&ns, &[], &mut rng).unwrap();
            assert!(maj.len() * 2 > n && maj.len() <= n);
            match Targets::Minority.choose(&ns, &[], &mut rng) {
                Ok(min) => assert!(!min.is_empty() && min.len() * 2 < n),
                Err(e) => assert!(n <= 2 && e.contains("minority"), "{e}"),
            }
        }
        let ns = nodes(5);
        assert_eq!(Targets::Primaries.choose(&ns, &["n4".into()], &mut rng).unwrap(), vec!["n4"]);
        assert!(Targets::Primaries.choose(&ns, &[], &mut rng).is_err());
    }

    #[test]
    fn target_choice_is_seeded() {
        let ns = nodes(9);
        let pick = |seed| Targets::Majority.choose(&ns, &[], &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
        assert_eq!(pick(1), pick(1));
        assert!((2..20).any(|s| pick(s) != pick(1)));
    }

    #[test]
    fn probability_and_bandwidth_parsing() {
        assert_eq!(parse_probability("--corrupt", "0.05").unwrap(), 0.05);
        assert!(parse_probability("--corrupt", "2").unwrap_err().contains("--corrupt '2'"));
        assert_eq!(parse_bandwidth("1mbit").unwrap(), 1_000_000);
        assert_eq!(parse_bandwidth("500kbit").unwrap(), 500_000);
        assert_eq!(parse_bandwidth("64000").unwrap(), 64_000);
        assert!(parse_bandwidth("fast").unwrap_err().contains("'fast'"));
        assert!(parse_bandwidth("1bit").is_err());
        assert!(Fault::Corrupt.needs_agent() && !Fault::Slow.needs_agent() && Fault::Corrupt.uses_targets());
    }

    #[test]
    fn loss_parsing() {
        assert_eq!(parse_loss("0.2").unwrap(), 0.2);
        assert_eq!(parse_loss("1").unwrap(), 1.0);
        for bad in ["0", "-0.1", "1.5", "abc", "NaN", ""] {
            let e = parse_loss(bad).unwrap_err();
            assert!(e.contains(&format!("'{bad}'")), "{e}");
        }
    }
}
