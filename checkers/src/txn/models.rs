//! Consistency models and the anomalies they forbid, ported from Elle's `elle.consistency-model`
//! (jepsen-io/elle, src/elle/consistency_model.clj).
//!
//! Four small directed graphs, written out as tables below exactly as Elle has them:
//! - `IMPLIED_ANOMALIES`: a -> b when finding anomaly a means b is present too (G0 -> G1c, ...);
//! - `SEVERITY`: extra "worse than" edges, used only to order the cycle searches;
//! - `MODELS`: a -> b when a history consistent with model a is also consistent with b;
//! - `PROSCRIBED`: model -> the anomalies it forbids directly (weaker models add theirs).
//!
//! From these: the anomalies a set of models forbids (`anomalies_prohibited_by`), the models a
//! set of anomalies rules out (`impossible_models`), and Elle's `:not` / `:also-not` boundary:
//! the weakest models ruled out, and the stronger ones that fall with them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

type Table = &'static [(&'static str, &'static [&'static str])];

/// a -> b: anomaly a implies anomaly b.
const IMPLIED_ANOMALIES: Table = &[
    ("G0", &["G1c", "G0-process"]),
    ("G0-process", &["G1c-process", "G0-realtime"]),
    ("G0-realtime", &["G1c-realtime"]),
    ("G1a", &["G1"]),
    ("G1b", &["G1"]),
    ("G1c", &["G1", "G1c-process"]),
    ("G1c-process", &["G1c-realtime", "G1-process"]),
    ("G1c-realtime", &["G1-realtime"]),
    ("G1", &["G1-process"]),
    ("G1-process", &["G1-realtime"]),
    ("G-single-item", &["G-single", "G-single-item-process", "G-nonadjacent-item"]),
    ("G-single-item-process", &["G-single-process", "G-single-item-realtime", "G-nonadjacent-item-process"]),
    ("G-single-item-realtime", &["G-single-realtime", "G-nonadjacent-item-realtime"]),
    ("G-single", &["G-nonadjacent", "GSIb", "G-single-process"]),
    ("G-single-process", &["G-nonadjacent-process", "G-single-realtime"]),
    ("G-single-realtime", &["G-nonadjacent-realtime"]),
    ("G-nonadjacent-item", &["G-nonadjacent", "G2-item", "G-nonadjacent-item-process"]),
    ("G-nonadjacent-item-process", &["G-nonadjacent-process", "G2-item-process", "G-nonadjacent-item-realtime"]),
    ("G-nonadjacent-item-realtime", &["G2-item-realtime", "G-nonadjacent-realtime"]),
    ("G-nonadjacent", &["G2", "G-nonadjacent-process"]),
    ("G-nonadjacent-process", &["G2-process", "G-nonadjacent-realtime"]),
    ("G-nonadjacent-realtime", &["G2-realtime"]),
    ("G2", &["G2-process"]),
    ("G2-item", &["G2", "G2-item-process"]),
    ("G2-item-process", &["G2-process", "G2-item-realtime"]),
    ("G2-item-realtime", &["G2-realtime"]),
    ("G2-process", &["G2-realtime"]),
    ("GSIa", &["GSI"]),
    ("GSIb", &["GSI"]),
    ("incompatible-order", &["G1a"]),
    ("future-read", &["G1c"]),
    ("dirty-update", &["G1a"]),
    ("lost-update", &["write-skew", "G2-item"]),
    ("write-skew", &["G2"]),
];

/// Extra "worse than" edges that order the searches (Elle's `anomaly-severity-graph`).
const SEVERITY: Table = &[
    ("G0", &["G1c"]),
    ("G0-process", &["G1c-process"]),
    ("G0-realtime", &["G1c-realtime"]),
    ("G1c", &["G-single", "G2-item"]),
    ("G1c-process", &["G-single-process", "G2-item-process"]),
    ("G1c-realtime", &["G-single-realtime", "G2-item-realtime"]),
    ("G2", &["G0-process"]),
    ("G2-process", &["G0-realtime"]),
];

/// Friendly model names and their canonical (Adya) names.
const CANONICAL: &[(&str, &str)] = &[
    ("consistent-view", "PL-2+"),
    ("conflict-serializable", "PL-3"),
    ("cursor-stability", "PL-CS"),
    ("forward-consistent-view", "PL-FCV"),
    ("monotonic-snapshot-read", "PL-MSR"),
    ("monotonic-view", "PL-2L"),
    ("read-committed", "PL-2"),
    ("read-uncommitted", "PL-1"),
    ("repeatable-read", "PL-2.99"),
    ("serializable", "PL-3"),
    ("snapshot-isolation", "PL-SI"),
    ("strict-serializable", "PL-SS"),
    ("strong-serializable", "PL-SS"),
    ("update-serializable", "PL-3U"),
    ("strong-session-read-uncommitted", "strong-session-PL-1"),
    ("strong-session-read-committed", "strong-session-PL-2"),
    ("strong-read-uncommitted", "strong-PL-1"),
    ("strong-read-committed", "strong-PL-2"),
];

/// a -> b: a history consistent with a is consistent with b (names before canonicalization).
const MODELS: Table = &[
    ("causal-cerone", &["read-atomic"]),
    ("consistent-view", &["cursor-stability", "monotonic-view"]),
    ("conflict-serializable", &["view-serializable"]),
    ("cursor-stability", &["read-committed", "PL-2"]),
    ("forward-consistent-view", &["consistent-view"]),
    ("PL-2", &["PL-1"]),
    ("PL-3", &["repeatable-read", "update-serializable"]),
    ("update-serializable", &["forward-consistent-view"]),
    ("monotonic-atomic-view", &["read-committed"]),
    ("monotonic-view", &["PL-2"]),
    ("monotonic-snapshot-read", &["PL-2"]),
    ("parallel-snapshot-isolation", &["causal-cerone", "update-atomic"]),
    ("prefix", &["causal-cerone"]),
    ("read-atomic", &["monotonic-atomic-view"]),
    ("read-committed", &["read-uncommitted"]),
    ("repeatable-read", &["cursor-stability", "monotonic-atomic-view"]),
    ("update-atomic", &["read-atomic"]),
    ("serializable", &["repeatable-read", "snapshot-isolation", "view-serializable"]),
    ("session-serializable", &["1SR"]),
    (
        "snapshot-isolation",
        &[
            "forward-consistent-view",
            "monotonic-atomic-view",
            "monotonic-snapshot-read",
            "parallel-snapshot-isolation",
            "prefix",
        ],
    ),
    (
        "strict-serializable",
        &[
            "PL-3",
            "serializable",
            "linearizable",
            "snapshot-isolation",
            "strong-snapshot-isolation",
            "strong-session-serializable",
        ],
    ),
    ("strong-session-PL-1", &["PL-1"]),
    ("strong-session-PL-2", &["PL-2", "strong-session-PL-1"]),
    ("strong-PL-1", &["strong-session-PL-1"]),
    ("strong-PL-2", &["strong-session-PL-2", "strong-PL-1"]),
    ("strong-session-serializable", &["serializable", "strong-session-snapshot-isolation"]),
    ("strong-session-snapshot-isolation", &["snapshot-isolation", "strong-session-PL-2"]),
    ("strong-serializable", &["session-serializable"]),
    ("strong-snapshot-isolation", &["strong-session-snapshot-isolation", "strong-PL-2"]),
    ("linearizable", &["sequential"]),
    ("sequential", &["causal"]),
    ("causal", &["writes-follow-reads", "PRAM"]),
    ("PRAM", &["monotonic-reads", "monotonic-writes", "read-your-writes"]),
];

/// model -> anomalies it forbids directly.
const PROSCRIBED: Table = &[
    ("causal-cerone", &["internal", "G1a"]),
    ("cursor-stability", &["G1", "G-cursor", "lost-update"]),
    ("monotonic-view", &["G1", "G-monotonic"]),
    ("monotonic-snapshot-read", &["G1", "G-MSR"]),
    ("consistent-view", &["G1", "G-single"]),
    ("forward-consistent-view", &["G1", "G-SIb"]),
    ("parallel-snapshot-isolation", &["internal", "G1a"]),
    ("PL-3", &["G1", "G2", "predicate-read-miss", "PL-3-cycle-exists"]),
    ("PL-2", &["G1", "PL-2-cycle-exists"]),
    ("PL-1", &["G0", "duplicate-elements", "cyclic-versions", "PL-1-cycle-exists"]),
    ("prefix", &["internal", "G1a"]),
    ("serializable", &["internal"]),
    ("snapshot-isolation", &["internal", "G1", "G-SI", "G-nonadjacent", "PL-SI-cycle-exists"]),
    ("read-atomic", &["internal", "G1a", "future-read"]),
    ("repeatable-read", &["G1", "G2-item", "PL-2.99-cycle-exists", "lost-update"]),
    ("update-atomic", &["lost-update"]),
    ("strict-serializable", &["G1", "G1c-realtime", "G2-realtime", "PL-SS-cycle-exists"]),
    ("strong-session-PL-1", &["strong-session-PL-1-cycle-exists", "G0-process"]),
    ("strong-session-PL-2", &["strong-session-PL-2-cycle-exists", "G1c-process"]),
    ("strong-PL-1", &["strong-PL-1-cycle-exists", "G0-realtime"]),
    ("strong-PL-2", &["strong-PL-2-cycle-exists", "G1c-realtime"]),
    (
        "strong-session-snapshot-isolation",
        &["internal", "G1-process", "G-nonadjacent-process", "strong-session-snapshot-isolation-cycle-exists"],
    ),
    (
        "strong-snapshot-isolation",
        &["internal", "G1-realtime", "G-nonadjacent-realtime", "strong-snapshot-isolation-cycle-exists"],
    ),
    ("strong-session-serializable", &["G1-process", "G2-process", "strong-session-serializable-cycle-exists"]),
    ("update-serializable", &["G1", "G-update"]),
];

/// The canonical name of a model (`serializable` -> `PL-3`); unknown names are kept.
pub fn canonical(model: &str) -> &str {
    CANONICAL.iter().find(|(f, _)| *f == model).map_or(model, |(_, c)| c)
}

/// The friendly name of a canonical model, as Elle prints it (`PL-3` -> `serializable`, `PL-SS`
/// -> `strong-serializable`: Elle's inverse map keeps that one of the two names).
pub fn friendly(model: &str) -> &str {
    match model {
        "PL-3" => "serializable",
        "PL-SS" => "strong-serializable",
        m => CANONICAL.iter().find(|(_, c)| *c == m).map_or(m, |(f, _)| f),
    }
}

/// A small directed graph over names.
struct Names {
    out: BTreeMap<&'static str, BTreeSet<&'static str>>,
    inn: BTreeMap<&'static str, BTreeSet<&'static str>>,
}

impl Names {
    fn new(tables: &[Table], canon: bool) -> Names {
        let mut g = Names { out: BTreeMap::new(), inn: BTreeMap::new() };
        for t in tables {
            for (a, bs) in t.iter() {
                let a = if canon { canonical(a) } else { a };
                g.out.entry(a).or_default();
                g.inn.entry(a).or_default();
                for b in bs.iter() {
                    let b = if canon { canonical(b) } else { b };
                    g.out.entry(a).or_default().insert(b);
                    g.inn.entry(b).or_default().insert(a);
                    g.out.entry(b).or_default();
                }
            }
        }
        g
    }

    /// Everything reachable from `from` (included), following `out` or `in` edges.
    fn reach<'a>(&self, from: impl IntoIterator<Item = &'a str>, forward: bool) -> BTreeSet<String> {
        let dir = if forward { &self.out } else { &self.inn };
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut queue: VecDeque<String> = from.into_iter().map(str::to_string).collect();
        while let Some(x) = queue.pop_front() {
            if !seen.insert(x.clone()) {
                continue;
            }
            if let Some(next) = dir.get(x.as_str()) {
                queue.extend(next.iter().map(|s| s.to_string()));
            }
        }
        seen
    }
}

struct Tables {
    implied: Names,
    models: Names,
    /// model (canonical) -> directly proscribed anomalies.
    proscribed: BTreeMap<&'static str, Vec<&'static str>>,
    depths: BTreeMap<String, usize>,
}

fn tables() -> &'static Tables {
    static T: std::sync::OnceLock<Tables> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let implied = Names::new(&[IMPLIED_ANOMALIES], false);
        let models = Names::new(&[MODELS], true);
        let mut proscribed: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (m, anomalies) in PROSCRIBED {
            proscribed.entry(canonical(m)).or_default().extend(anomalies.iter().copied());
        }
        // Depth: peel the vertices with no inbound edges, layer by layer, from the implication
        // and severity graphs together; anomalies only named by models get depth 0.
        let both = Names::new(&[IMPLIED_ANOMALIES, SEVERITY], false);
        let mut depths: BTreeMap<String, usize> = BTreeMap::new();
        let mut indeg: BTreeMap<&str, usize> =
            both.out.keys().map(|v| (*v, both.inn.get(v).map_or(0, |s| s.len()))).collect();
        let mut layer: Vec<&str> = indeg.iter().filter(|(_, d)| **d == 0).map(|(v, _)| *v).collect();
        let mut depth = 0;
        while !layer.is_empty() {
            let mut next = Vec::new();
            for v in &layer {
                depths.insert(v.to_string(), depth);
                for w in &both.out[v] {
                    let d = indeg.get_mut(w).expect("every vertex has a degree");
                    *d -= 1;
                    if *d == 0 {
                        next.push(*w);
                    }
                }
            }
            layer = next;
            depth += 1;
        }
        for anomalies in proscribed.values() {
            for a in anomalies {
                depths.entry(a.to_string()).or_insert(0);
            }
        }
        Tables { implied, models, proscribed, depths }
    })
}

/// Every model name Elle knows (friendly and canonical).
pub fn all_models() -> BTreeSet<String> {
    let t = tables();
    let mut all: BTreeSet<String> = t.models.out.keys().map(|s| s.to_string()).collect();
    for (f, c) in CANONICAL {
        all.insert(f.to_string());
        all.insert(c.to_string());
    }
    all
}

/// Whether `model` is a model Elle knows.
pub fn is_model(model: &str) -> bool {
    all_models().contains(model)
}

/// Every anomaly Elle knows, sorted as Elle sorts them: by depth in the implication and
/// severity graphs, then by name. Cycle searches go in this order.
pub fn all_anomalies() -> Vec<String> {
    let mut all: Vec<(usize, String)> = tables().depths.iter().map(|(a, d)| (*d, a.clone())).collect();
    all.sort();
    all.into_iter().map(|(_, a)| a).collect()
}

/// The depth of an anomaly (see `all_anomalies`); unknown anomalies sort last.
pub fn anomaly_depth(anomaly: &str) -> usize {
    tables().depths.get(anomaly).copied().unwrap_or(usize::MAX)
}

/// The anomalies implied by these (the anomalies included).
pub fn implied_anomalies<'a>(anomalies: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    tables().implied.reach(anomalies, true)
}

/// The anomalies that imply any of these (the anomalies included).
pub fn anomalies_implying<'a>(anomalies: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    tables().implied.reach(anomalies, false)
}

/// Every model implied by these models (canonical names, the models included).
pub fn implied_models<'a>(models: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    tables().models.reach(models.into_iter().map(canonical), true)
}

/// Every model that implies one of these (canonical names, the models included).
pub fn models_implying<'a>(models: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    tables().models.reach(models.into_iter().map(canonical), false)
}

/// The anomalies that cannot be present if all of `models` hold.
pub fn anomalies_prohibited_by<'a>(models: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    let t = tables();
    let implied = implied_models(models);
    let direct: Vec<&str> =
        implied.iter().filter_map(|m| t.proscribed.get(m.as_str())).flat_map(|v| v.iter().copied()).collect();
    anomalies_implying(direct)
}

/// The models (canonical names) that cannot hold given these anomalies.
pub fn impossible_models<'a>(anomalies: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    let t = tables();
    let implied = implied_anomalies(anomalies);
    let direct: Vec<&str> = t
        .proscribed
        .iter()
        .filter(|(_, forbidden)| forbidden.iter().any(|a| implied.contains(*a)))
        .map(|(m, _)| *m)
        .collect();
    models_implying(direct)
}

/// Of a set of models, those not implied by another one of the set (the weakest).
fn weakest(models: &BTreeSet<String>) -> BTreeSet<String> {
    let t = tables();
    let mut out = models.clone();
    for m in models {
        let mut others = out.clone();
        others.remove(m);
        let below = t.models.reach([m.as_str()], true);
        if below.iter().any(|b| b != m && others.contains(b)) {
            out.remove(m);
        }
    }
    out
}

/// Elle's boundary, with friendly names: `not` are the weakest models these anomalies rule
/// out, `also_not` the stronger ones that fall with them.
pub fn boundary<'a>(anomalies: impl IntoIterator<Item = &'a str>) -> (BTreeSet<String>, BTreeSet<String>) {
    let impossible = impossible_models(anomalies);
    let not = weakest(&impossible);
    let also: BTreeSet<String> =
        impossible.iter().filter(|m| !not.contains(*m)).map(|m| friendly(m).to_string()).collect();
    (not.iter().map(|m| friendly(m).to_string()).collect(), also)
}

/// The isolation levels databases name, strongest first: the one an anomaly leaves standing is
/// said beside it ("snapshot-isolation allows it").
const NAMED_LEVELS: [&str; 5] =
    ["strict-serializable", "serializable", "snapshot-isolation", "repeatable-read", "read-committed"];

/// An anomaly type in words, for a person: its common name, the weakest models it rules out
/// (from Elle's table, so it cannot disagree with `not`), and the strongest named level that
/// still allows it. E.g. G2-item: "write skew: each transaction missed another's write; ruled
/// out by repeatable-read and every stronger model; snapshot-isolation allows it".
pub fn anomaly_in_words(anomaly: &str) -> String {
    let (base, order) = match (anomaly.strip_suffix("-process"), anomaly.strip_suffix("-realtime")) {
        (Some(b), _) => (b, " (through a session's own order)"),
        (_, Some(b)) => (b, " (through real-time order)"),
        _ => (anomaly, ""),
    };
    let name = match base.strip_suffix("-item").unwrap_or(base) {
        "G0" => "write cycle (dirty write): transactions overwrote each other's writes in a cycle",
        "G1a" => "aborted read: a committed transaction saw a write of one that failed",
        "G1b" => "intermediate read: a transaction saw a value its writer overwrote before committing",
        "G1c" => "circular information flow: transactions saw or overwrote each other's writes in a cycle",
        "G-single" => "read skew: a transaction saw some of another's effects and missed the rest",
        "G-nonadjacent" => "a cycle of anti-dependencies, no two of them adjacent",
        "G2" => "write skew: each transaction missed another's write",
        "lost-update" => "lost update: transactions read the same version of a key and each wrote it",
        "internal" => "a transaction did not see its own earlier write",
        "future-read" => "a transaction read a value before it was written",
        "incompatible-order" => "two reads of a key disagree on the order of its appends",
        "duplicate-elements" => "a read returned the same append twice",
        "dirty-update" => "a committed write built on a failed transaction's write",
        _ => "",
    };
    let mut words = if name.is_empty() { anomaly.to_string() } else { format!("{name}{order}") };
    let (not, _) = boundary([anomaly]);
    if !not.is_empty() {
        words.push_str(&format!(
            "; ruled out by {} and every stronger model",
            not.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
        let impossible = impossible_models([anomaly]);
        if let Some(allows) = NAMED_LEVELS.iter().find(|m| !impossible.contains(canonical(m))) {
            words.push_str(&format!("; {allows} allows it"));
        }
    }
    words
}

#[cfg(test)]
mod tests {
    //! Transcribed from jepsen-io/elle, test/elle/consistency_model_test.clj.
    use super::*;

    fn set(xs: &[&str]) -> BTreeSet<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    fn friendly_set(models: BTreeSet<String>) -> BTreeSet<String> {
        models.iter().map(|m| friendly(m).to_string()).collect()
    }

    /// Each anomaly in words names what it is, the weakest models it rules out (as `not` does)
    /// and the strongest named level that still allows it.
    #[test]
    fn anomalies_in_words() {
        assert_eq!(
            anomaly_in_words("G2-item"),
            "write skew: each transaction missed another's write; ruled out by repeatable-read and every \
             stronger model; snapshot-isolation allows it"
        );
        let g_single = anomaly_in_words("G-single-item-realtime");
        assert!(g_single.starts_with("read skew: ") && g_single.contains("(through real-time order)"), "{g_single}");
        assert!(anomaly_in_words("G1a").contains("ruled out by read-committed"), "{}", anomaly_in_words("G1a"));
        assert_eq!(anomaly_in_words("made-up"), "made-up");
    }

    #[test]
    fn all_anomalies_in_elle_order() {
        let expected = [
            "G-MSR",
            "G-SI",
            "G-SIb",
            "G-cursor",
            "G-monotonic",
            "G-single-item",
            "G-update",
            "G0",
            "G1b",
            "GSIa",
            "PL-1-cycle-exists",
            "PL-2-cycle-exists",
            "PL-2.99-cycle-exists",
            "PL-3-cycle-exists",
            "PL-SI-cycle-exists",
            "PL-SS-cycle-exists",
            "cyclic-versions",
            "dirty-update",
            "duplicate-elements",
            "future-read",
            "incompatible-order",
            "internal",
            "lost-update",
            "predicate-read-miss",
            "strong-PL-1-cycle-exists",
            "strong-PL-2-cycle-exists",
            "strong-session-PL-1-cycle-exists",
            "strong-session-PL-2-cycle-exists",
            "strong-session-serializable-cycle-exists",
            "strong-session-snapshot-isolation-cycle-exists",
            "strong-snapshot-isolation-cycle-exists",
            "G-nonadjacent-item",
            "G-single-item-process",
            "G1a",
            "G1c",
            "write-skew",
            "G-nonadjacent-item-process",
            "G-single",
            "G-single-item-realtime",
            "G1",
            "G2-item",
            "G-nonadjacent",
            "G-nonadjacent-item-realtime",
            "GSIb",
            "G2",
            "GSI",
            "G0-process",
            "G1c-process",
            "G-single-process",
            "G1-process",
            "G2-item-process",
            "G-nonadjacent-process",
            "G2-process",
            "G0-realtime",
            "G1c-realtime",
            "G-single-realtime",
            "G1-realtime",
            "G2-item-realtime",
            "G-nonadjacent-realtime",
            "G2-realtime",
        ];
        assert_eq!(all_anomalies(), expected.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    }

    #[test]
    fn prohibited_by_read_committed() {
        assert_eq!(
            anomalies_prohibited_by(["read-committed"]),
            set(&[
                "dirty-update",
                "G1a",
                "G1b",
                "G1c",
                "G1",
                "G0",
                "PL-1-cycle-exists",
                "PL-2-cycle-exists",
                "cyclic-versions",
                "duplicate-elements",
                "incompatible-order",
                "future-read"
            ])
        );
    }

    #[test]
    fn impossible_models_of_anomalies() {
        assert_eq!(
            friendly_set(impossible_models(["G-single"])),
            set(&[
                "consistent-view",
                "forward-consistent-view",
                "strong-serializable",
                "serializable",
                "snapshot-isolation",
                "strong-session-serializable",
                "strong-session-snapshot-isolation",
                "strong-snapshot-isolation",
                "update-serializable"
            ])
        );
        assert_eq!(
            friendly_set(impossible_models(["G-SI"])),
            set(&[
                "snapshot-isolation",
                "serializable",
                "strong-serializable",
                "strong-session-serializable",
                "strong-session-snapshot-isolation",
                "strong-snapshot-isolation"
            ])
        );
        assert_eq!(
            friendly_set(impossible_models(["internal"])),
            set(&[
                "causal-cerone",
                "parallel-snapshot-isolation",
                "prefix",
                "read-atomic",
                "update-atomic",
                "serializable",
                "snapshot-isolation",
                "strong-serializable",
                "strong-session-serializable",
                "strong-session-snapshot-isolation",
                "strong-snapshot-isolation"
            ])
        );
        assert_eq!(friendly_set(impossible_models(["dirty-update"])).len(), 22);
    }

    #[test]
    fn boundaries() {
        assert_eq!(boundary([]), (set(&[]), set(&[])));
        let (not, also) = boundary(["cyclic-versions"]);
        assert_eq!(not, set(&["read-uncommitted"]));
        assert_eq!(
            also,
            set(&[
                "read-committed",
                "snapshot-isolation",
                "causal-cerone",
                "consistent-view",
                "cursor-stability",
                "forward-consistent-view",
                "monotonic-atomic-view",
                "monotonic-snapshot-read",
                "monotonic-view",
                "parallel-snapshot-isolation",
                "prefix",
                "read-atomic",
                "repeatable-read",
                "update-atomic",
                "serializable",
                "strong-read-committed",
                "strong-read-uncommitted",
                "strong-serializable",
                "strong-session-read-committed",
                "strong-session-read-uncommitted",
                "strong-session-serializable",
                "strong-session-snapshot-isolation",
                "strong-snapshot-isolation",
                "update-serializable"
            ])
        );
        assert_eq!(boundary(["internal"]).0, set(&["read-atomic"]));
        assert_eq!(boundary(["G1a"]).0, set(&["read-committed"]));
        assert_eq!(
            boundary(["G1a"]).1,
            set(&[
                "read-atomic",
                "update-atomic",
                "causal-cerone",
                "consistent-view",
                "cursor-stability",
                "forward-consistent-view",
                "monotonic-atomic-view",
                "monotonic-snapshot-read",
                "monotonic-view",
                "parallel-snapshot-isolation",
                "prefix",
                "repeatable-read",
                "serializable",
                "snapshot-isolation",
                "strong-read-committed",
                "strong-snapshot-isolation",
                "strong-serializable",
                "strong-session-read-committed",
                "strong-session-serializable",
                "strong-session-snapshot-isolation",
                "update-serializable"
            ])
        );
        assert_eq!(boundary(["G-single"]).0, set(&["consistent-view"]));
        assert_eq!(boundary(["G2", "internal"]).0, set(&["read-atomic"]));
        assert_eq!(boundary(["lost-update"]).0, set(&["update-atomic", "cursor-stability"]));
        assert_eq!(
            boundary(["G-single-realtime"]),
            (set(&["strong-snapshot-isolation"]), set(&["strong-serializable"]))
        );
    }

    #[test]
    fn model_implications() {
        assert_eq!(models_implying(["strong-session-serializable"]), set(&["strong-session-serializable", "PL-SS"]));
        assert!(is_model("strict-serializable") && is_model("PL-3") && !is_model("stricct-snappshot-isolation"));
    }
}
