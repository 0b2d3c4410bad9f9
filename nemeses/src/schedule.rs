//! Nemesis schedules as plain data: when to start which fault, when to stop it, when to heal.
//!
//! Two sources produce the same `Vec<Step>`: `interval_schedule` (seeded random start/stop pairs
//! with ChaCha8, `--nemesis-interval`) and `parse_schedule` (an explicit TOML timeline,
//! `--nemesis-schedule FILE`, so a failure can be replayed exactly). `to_toml` writes any schedule in
//! the file format, so the schedule a run used can be saved and replayed.
//!
//! File format:
//! ```toml
//! [[step]]
//! at = "10s"
//! start = "partition-ring"
//! targets = "majority"            # optional: one|minority|majority|all|primaries
//! nodes = ["n1", "n2"]            # optional: exact target nodes (overrides targets)
//! grudge = { n1 = ["n2", "n3"] }  # optional: exact partition (node -> nodes it drops)
//! [[step]]
//! at = "25s"
//! stop = "partition-ring"         # or: heal = true
//! ```

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use crate::fault::{Fault, Targets};
use crate::grudge::Grudge;

/// What happens at a step.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Apply `fault`. `targets` overrides `--nemesis-targets`; `nodes` and `grudge` pin the exact
    /// nodes / partition (for replays); otherwise they are drawn from the engine's seeded rng.
    Start { fault: Fault, targets: Option<Targets>, nodes: Option<Vec<String>>, grudge: Option<Grudge> },
    /// Remove `fault`.
    Stop { fault: Fault },
    /// Remove every applied fault.
    HealAll,
}

impl Action {
    /// A plain start, with targets and topology drawn at run time.
    pub fn start(fault: Fault) -> Action {
        Action::Start { fault, targets: None, nodes: None, grudge: None }
    }
}

/// One entry of a schedule: `at` is measured from the start of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub at: Duration,
    pub action: Action,
}

/// Faults still applied after all `steps` have run, in start order.
pub fn active_after(steps: &[Step]) -> Vec<Fault> {
    let mut active: Vec<Fault> = Vec::new();
    for step in steps {
        match &step.action {
            Action::Start { fault, .. } => active.push(*fault),
            Action::Stop { fault } => active.retain(|f| f != fault),
            Action::HealAll => active.clear(),
        }
    }
    active
}

/// Append a `HealAll` at `max(end, last step)` if a fault would still be applied at the end.
pub fn ensure_ends_healed(steps: &mut Vec<Step>, end: Duration) {
    if !active_after(steps).is_empty() {
        let at = steps.last().map_or(end, |s| s.at.max(end));
        steps.push(Step { at, action: Action::HealAll });
    }
}

/// A duration uniformly drawn from [d/2, 3d/2].
fn around<R: Rng>(d: Duration, rng: &mut R) -> Duration {
    let ms = d.as_millis().max(1) as u64;
    Duration::from_millis(rng.random_range(ms / 2..=ms + ms / 2))
}

/// Seeded random schedule: wait ~`interval`, start a fault drawn from `faults`, hold it ~`interval`,
/// stop it; repeat until `time_limit`. One fault at a time; stops are clamped to the time limit and
/// the schedule always ends healed. Same seed, same schedule.
pub fn interval_schedule(
    seed: u64,
    faults: &[Fault],
    interval: Duration,
    time_limit: Duration,
) -> Result<Vec<Step>, String> {
    if interval.is_zero() {
        return Err("--nemesis-interval must be greater than zero".into());
    }
    let mut steps = Vec::new();
    if faults.is_empty() {
        return Ok(steps);
    }
    // A stream of its own, so the schedule does not shift when other seeded draws change.
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5C4E_D01E_5C4E_D01E);
    let mut t = Duration::ZERO;
    loop {
        let start = t + around(interval, &mut rng);
        if start >= time_limit {
            break;
        }
        let stop = (start + around(interval, &mut rng)).min(time_limit);
        let fault = faults[rng.random_range(0..faults.len())];
        steps.push(Step { at: start, action: Action::start(fault) });
        steps.push(Step { at: stop, action: Action::Stop { fault } });
        t = stop;
    }
    ensure_ends_healed(&mut steps, time_limit);
    Ok(steps)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleFile {
    #[serde(default)]
    step: Vec<FileStep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStep {
    at: Option<String>,
    start: Option<String>,
    stop: Option<String>,
    heal: Option<bool>,
    targets: Option<String>,
    nodes: Option<Vec<String>>,
    grudge: Option<Grudge>,
}

/// Read and parse a schedule file; errors name the file.
pub fn load_schedule(path: &Path) -> Result<Vec<Step>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read nemesis schedule {}: {e}", path.display()))?;
    parse_schedule(&path.display().to_string(), &text)
}

/// Parse a TOML schedule. `file` is only used in messages, which name the file, the step (1-based)
/// and the problem. Steps must be in time order; a fault cannot be started twice without a stop, nor
/// stopped when it is not applied.
pub fn parse_schedule(file: &str, text: &str) -> Result<Vec<Step>, String> {
    let parsed: ScheduleFile =
        toml::from_str(text).map_err(|e| format!("nemesis schedule {file}: {}", e.to_string().trim_end()))?;
    let mut steps: Vec<Step> = Vec::new();
    let mut active: BTreeSet<Fault> = BTreeSet::new();
    for (i, raw) in parsed.step.into_iter().enumerate() {
        let here = format!("nemesis schedule {file}: step {}", i + 1);
        let at_text = raw.at.ok_or_else(|| format!("{here}: missing `at` (e.g. at = \"10s\")"))?;
        let at = humantime::parse_duration(&at_text)
            .map_err(|e| format!("{here}: at = \"{at_text}\" is not a duration ({e}); e.g. \"10s\", \"1m 30s\""))?;
        let here = format!("{here} (at = \"{at_text}\")");
        if let Some(prev) = steps.last() {
            if at < prev.at {
                return Err(format!("{here}: steps must be in time order; the previous step is later"));
            }
        }
        let kinds = [raw.start.is_some(), raw.stop.is_some(), raw.heal.is_some()];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(format!("{here}: give exactly one of `start = \"FAULT\"`, `stop = \"FAULT\"`, `heal = true`"));
        }
        let only_for_start = raw.targets.is_some() || raw.nodes.is_some() || raw.grudge.is_some();
        let action = if let Some(name) = raw.start {
            let fault = Fault::parse(&name).map_err(|e| format!("{here}: start: {e}"))?;
            if !active.insert(fault) {
                return Err(format!("{here}: {fault} is already started; stop it first"));
            }
            let targets = raw.targets.as_deref().map(Targets::parse).transpose().map_err(|e| format!("{here}: {e}"))?;
            if (targets.is_some() || raw.nodes.is_some()) && !fault.uses_targets() {
                return Err(format!("{here}: {fault} draws its own topology; `targets`/`nodes` apply to kill, pause, clock, flaky, slow (use `grudge` to pin a partition)"));
            }
            if raw.grudge.is_some() && !fault.is_partition() {
                return Err(format!("{here}: `grudge` only applies to partition faults, not {fault}"));
            }
            if let Some(nodes) = &raw.nodes {
                if nodes.is_empty() {
                    return Err(format!("{here}: `nodes` is empty"));
                }
            }
            Action::Start { fault, targets, nodes: raw.nodes, grudge: raw.grudge }
        } else if let Some(name) = raw.stop {
            let fault = Fault::parse(&name).map_err(|e| format!("{here}: stop: {e}"))?;
            if only_for_start {
                return Err(format!("{here}: `targets`, `nodes` and `grudge` only go with `start`"));
            }
            if !active.remove(&fault) {
                return Err(format!("{here}: stop = \"{fault}\" but {fault} is not started at this point"));
            }
            Action::Stop { fault }
        } else {
            if raw.heal != Some(true) {
                return Err(format!("{here}: `heal` must be true (leave the step out otherwise)"));
            }
            if only_for_start {
                return Err(format!("{here}: `targets`, `nodes` and `grudge` only go with `start`"));
            }
            active.clear();
            Action::HealAll
        };
        steps.push(Step { at, action });
    }
    Ok(steps)
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Write a schedule in the file format (for saving the schedule a run used, to replay it).
pub fn to_toml(steps: &[Step]) -> String {
    let mut out = String::new();
    for step in steps {
        out.push_str("[[step]]\n");
        out.push_str(&format!("at = {}\n", toml_str(&humantime::format_duration(step.at).to_string())));
        match &step.action {
            Action::Start { fault, targets, nodes, grudge } => {
                out.push_str(&format!("start = {}\n", toml_str(fault.name())));
                if let Some(t) = targets {
                    out.push_str(&format!("targets = {}\n", toml_str(t.name())));
                }
                if let Some(nodes) = nodes {
                    let list: Vec<String> = nodes.iter().map(|n| toml_str(n)).collect();
                    out.push_str(&format!("nodes = [{}]\n", list.join(", ")));
                }
                if let Some(g) = grudge {
                    let entries: Vec<String> = g
                        .iter()
                        .map(|(k, v)| {
                            let list: Vec<String> = v.iter().map(|n| toml_str(n)).collect();
                            format!("{} = [{}]", toml_str(k), list.join(", "))
                        })
                        .collect();
                    out.push_str(&format!("grudge = {{ {} }}\n", entries.join(", ")));
                }
            }
            Action::Stop { fault } => out.push_str(&format!("stop = {}\n", toml_str(fault.name()))),
            Action::HealAll => out.push_str("heal = true\n"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    const FAULTS: [Fault; 3] = [Fault::PartitionRing, Fault::Kill, Fault::Pause];

    #[test]
    fn interval_schedule_is_seeded() {
        let a = interval_schedule(42, &FAULTS, secs(10), secs(300)).unwrap();
        let b = interval_schedule(42, &FAULTS, secs(10), secs(300)).unwrap();
        let c = interval_schedule(43, &FAULTS, secs(10), secs(300)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.len() > 10);
    }

    #[test]
    fn interval_schedule_shape() {
        for seed in 0..50 {
            let limit = secs(60);
            let steps = interval_schedule(seed, &FAULTS, secs(5), limit).unwrap();
            assert!(active_after(&steps).is_empty(), "seed {seed} does not end healed");
            assert!(steps.windows(2).all(|w| w[0].at <= w[1].at), "seed {seed} out of order");
            assert!(steps.iter().all(|s| s.at <= limit));
            // Start/stop pairs, one fault at a time, holding at least a moment.
            for pair in steps.chunks(2) {
                if let [Step { at: t0, action: Action::Start { fault, .. } }, Step { at: t1, action: Action::Stop { fault: g } }] =
                    pair
                {
                    assert_eq!(fault, g);
                    assert!(t1 > t0 && *t1 - *t0 <= secs(8));
                } else {
                    assert!(matches!(pair, [Step { action: Action::HealAll, .. }]), "{pair:?}");
                }
            }
            // Every chosen fault is from the set.
            for s in &steps {
                if let Action::Start { fault, .. } = s.action {
                    assert!(FAULTS.contains(&fault));
                }
            }
        }
        assert!(interval_schedule(1, &[], secs(5), secs(60)).unwrap().is_empty());
        assert!(interval_schedule(1, &FAULTS, Duration::ZERO, secs(60)).is_err());
        // A limit shorter than a wait gives no fault at all.
        let short = interval_schedule(1, &FAULTS, secs(100), secs(10)).unwrap();
        assert!(short.is_empty());
    }

    #[test]
    fn truncated_hold_still_ends_healed() {
        // With a hold that runs past the limit, the stop is clamped to the limit.
        for seed in 0..200 {
            let steps = interval_schedule(seed, &[Fault::Kill], secs(10), secs(12)).unwrap();
            assert!(active_after(&steps).is_empty());
            assert!(steps.iter().all(|s| s.at <= secs(12)));
        }
    }

    #[test]
    fn parses_the_documented_format() {
        let text = r#"
            [[step]]
            at = "10s"
            start = "partition-ring"
            [[step]]
            at = "12s"
            start = "kill"
            targets = "majority"
            [[step]]
            at = "20s"
            stop = "kill"
            [[step]]
            at = "25s"
            heal = true
        "#;
        let steps = parse_schedule("s.toml", text).unwrap();
        assert_eq!(steps.len(), 4);
        assert_eq!(steps[0], Step { at: secs(10), action: Action::start(Fault::PartitionRing) });
        assert_eq!(
            steps[1].action,
            Action::Start { fault: Fault::Kill, targets: Some(Targets::Majority), nodes: None, grudge: None }
        );
        assert_eq!(steps[2].action, Action::Stop { fault: Fault::Kill });
        assert_eq!(steps[3], Step { at: secs(25), action: Action::HealAll });
        assert!(active_after(&steps).is_empty());
    }

    #[test]
    fn bad_files_name_file_step_and_problem() {
        let cases = [
            (
                "[[step]]\nat = \"10s\"\nstart = \"partiton\"\n",
                "step 1 (at = \"10s\"): start: unknown fault 'partiton'",
            ),
            ("[[step]]\nat = \"ten\"\nstart = \"kill\"\n", "step 1: at = \"ten\" is not a duration"),
            ("[[step]]\nstart = \"kill\"\n", "step 1: missing `at`"),
            ("[[step]]\nat = \"1s\"\nstart = \"kill\"\nstop = \"kill\"\n", "exactly one of"),
            ("[[step]]\nat = \"1s\"\n", "exactly one of"),
            (
                "[[step]]\nat = \"5s\"\nstop = \"kill\"\n",
                "step 1 (at = \"5s\"): stop = \"kill\" but kill is not started",
            ),
            (
                "[[step]]\nat = \"5s\"\nstart = \"kill\"\n[[step]]\nat = \"6s\"\nstart = \"kill\"\n",
                "step 2 (at = \"6s\"): kill is already started",
            ),
            (
                "[[step]]\nat = \"5s\"\nstart = \"kill\"\n[[step]]\nat = \"4s\"\nstop = \"kill\"\n",
                "step 2 (at = \"4s\"): steps must be in time order",
            ),
            ("[[step]]\nat = \"5s\"\nstart = \"kill\"\ntargets = \"most\"\n", "unknown --nemesis-targets 'most'"),
            ("[[step]]\nat = \"5s\"\nstart = \"partition-ring\"\ntargets = \"one\"\n", "draws its own topology"),
            ("[[step]]\nat = \"5s\"\nheal = false\n", "`heal` must be true"),
            ("[[step]]\nat = \"5s\"\nheal = true\nwhen = 3\n", "unknown field `when`"),
            ("[[step]\nat = 5\n", "nemesis schedule bad.toml:"),
        ];
        for (text, want) in cases {
            let e = parse_schedule("bad.toml", text).unwrap_err();
            assert!(e.starts_with("nemesis schedule bad.toml"), "{e}");
            assert!(e.contains(want), "want {want:?} in: {e}");
        }
        let e = load_schedule(Path::new("/nonexistent/s.toml")).unwrap_err();
        assert!(e.contains("/nonexistent/s.toml"), "{e}");
    }

    #[test]
    fn unhealed_file_gets_a_final_heal() {
        let mut steps = parse_schedule("s.toml", "[[step]]\nat = \"10s\"\nstart = \"pause\"\n").unwrap();
        assert_eq!(active_after(&steps), vec![Fault::Pause]);
        ensure_ends_healed(&mut steps, secs(60));
        assert_eq!(steps.last().unwrap(), &Step { at: secs(60), action: Action::HealAll });
        let n = steps.len();
        ensure_ends_healed(&mut steps, secs(60));
        assert_eq!(steps.len(), n);
    }

    #[test]
    fn toml_round_trip_including_pins() {
        let mut steps = interval_schedule(9, &FAULTS, Duration::from_millis(2500), secs(40)).unwrap();
        let mut g = Grudge::new();
        g.insert("n1".into(), ["n2".to_string(), "n3".to_string()].into());
        steps.push(Step {
            at: secs(41),
            action: Action::Start { fault: Fault::PartitionHalves, targets: None, nodes: None, grudge: Some(g) },
        });
        steps.push(Step {
            at: secs(42),
            action: Action::Start {
                fault: Fault::Clock,
                targets: Some(Targets::All),
                nodes: Some(vec!["n1".into(), "n4".into()]),
                grudge: None,
            },
        });
        steps.push(Step { at: Duration::from_millis(42_500), action: Action::HealAll });
        let text = to_toml(&steps);
        assert_eq!(parse_schedule("replay.toml", &text).unwrap(), steps, "{text}");
    }
}
