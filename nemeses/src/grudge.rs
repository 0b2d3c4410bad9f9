//! Partition topologies as grudges (Jepsen's term): node -> the set of nodes whose packets it drops.
//!
//! Everything here is pure: topologies take the node names and a seeded rng and return a `Grudge`;
//! `tcp_reachable` says which links a TCP connect can cross under a set of grudges (a connect needs
//! both directions, so a link works only when neither end drops the other).

use rand::seq::SliceRandom;
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};

use crate::fault::Fault;

/// node -> nodes whose packets it drops. Nodes that drop nothing may be absent.
pub type Grudge = BTreeMap<String, BTreeSet<String>>;

/// Each node drops every node outside its own component.
pub fn complete_grudge(components: &[Vec<String>]) -> Grudge {
    let mut grudge = Grudge::new();
    for (i, component) in components.iter().enumerate() {
        let others: BTreeSet<String> =
            components.iter().enumerate().filter(|(j, _)| *j != i).flat_map(|(_, c)| c.iter().cloned()).collect();
        if others.is_empty() {
            continue;
        }
        for node in component {
            grudge.insert(node.clone(), others.clone());
        }
    }
    grudge
}

/// The smallest number of nodes that is a majority of `n`.
pub fn majority(n: usize) -> usize {
    n / 2 + 1
}

fn need(fault: Fault, nodes: &[String], min: usize) -> Result<(), String> {
    if nodes.len() < min {
        return Err(format!("{fault} needs at least {min} nodes; the cluster has {}", nodes.len()));
    }
    Ok(())
}

fn shuffled<R: Rng>(nodes: &[String], rng: &mut R) -> Vec<String> {
    let mut v = nodes.to_vec();
    v.shuffle(rng);
    v
}

/// Isolate one random node from all the others.
pub fn partition_one<R: Rng>(nodes: &[String], rng: &mut R) -> Result<Grudge, String> {
    need(Fault::PartitionOne, nodes, 2)?;
    let s = shuffled(nodes, rng);
    Ok(complete_grudge(&[vec![s[0].clone()], s[1..].to_vec()]))
}

/// Two random halves (the first has n/2 nodes, the second the rest).
pub fn partition_halves<R: Rng>(nodes: &[String], rng: &mut R) -> Result<Grudge, String> {
    need(Fault::PartitionHalves, nodes, 2)?;
    let s = shuffled(nodes, rng);
    let (a, b) = s.split_at(s.len() / 2);
    Ok(complete_grudge(&[a.to_vec(), b.to_vec()]))
}

/// Majorities ring: every node sees (accepts packets from) a majority including itself, and no two
/// nodes see the same set. Nodes are placed on a shuffled ring and each sees the nodes within a window
/// around itself. For n >= 4 the window is odd-sized and centred, so the grudge is symmetric (what a
/// TCP-based database experiences matches the description); for n = 3 a symmetric ring is impossible
/// (two nodes seeing each other would see the same pair), so each node sees itself and its successor.
pub fn partition_ring<R: Rng>(nodes: &[String], rng: &mut R) -> Result<Grudge, String> {
    need(Fault::PartitionRing, nodes, 3)?;
    let ring = shuffled(nodes, rng);
    let n = ring.len();
    let m = majority(n);
    // Offsets (relative to a node's ring position) of the nodes it sees.
    let seen_offsets: Vec<usize> = if n == 3 {
        vec![0, 1]
    } else {
        let half = if m % 2 == 1 { (m - 1) / 2 } else { m / 2 };
        (0..=half).chain((n - half)..n).collect()
    };
    let mut grudge = Grudge::new();
    for (i, node) in ring.iter().enumerate() {
        let seen: BTreeSet<&String> = seen_offsets.iter().map(|o| &ring[(i + o) % n]).collect();
        let dropped: BTreeSet<String> = ring.iter().filter(|x| !seen.contains(x)).cloned().collect();
        if !dropped.is_empty() {
            grudge.insert(node.clone(), dropped);
        }
    }
    Ok(grudge)
}

/// Two halves joined by one bridge node that sees (and is seen by) both halves.
pub fn partition_bridge<R: Rng>(nodes: &[String], rng: &mut R) -> Result<Grudge, String> {
    need(Fault::PartitionBridge, nodes, 3)?;
    let s = shuffled(nodes, rng);
    let bridge = s.len() / 2;
    let (a, b) = (&s[..bridge], &s[bridge + 1..]);
    // The bridge node is in neither component, so it drops nobody and nobody drops it.
    Ok(complete_grudge(&[a.to_vec(), b.to_vec()]))
}

/// Asymmetric halves: the first (deaf) half drops the second half's packets; the second half drops
/// nothing, so it still hears the first. TCP cannot cross in either direction (the replies are lost),
/// so only the cut direction is verifiable by a connect.
pub fn partition_oneway<R: Rng>(nodes: &[String], rng: &mut R) -> Result<Grudge, String> {
    need(Fault::PartitionOneway, nodes, 2)?;
    let s = shuffled(nodes, rng);
    let (deaf, loud) = s.split_at(s.len() / 2);
    let loud: BTreeSet<String> = loud.iter().cloned().collect();
    Ok(deaf.iter().map(|d| (d.clone(), loud.clone())).collect())
}

/// Isolate the primaries (together) from the rest of the cluster.
pub fn partition_primaries(nodes: &[String], primaries: &[String]) -> Result<Grudge, String> {
    need(Fault::PartitionLeader, nodes, 2)?;
    let isolated: Vec<String> = nodes.iter().filter(|x| primaries.contains(x)).cloned().collect();
    if isolated.is_empty() {
        return Err("partition-leader: the database reported no primary among the nodes".into());
    }
    let rest: Vec<String> = nodes.iter().filter(|x| !primaries.contains(x)).cloned().collect();
    if rest.is_empty() {
        return Err("partition-leader: every node is a primary, so there is nobody to isolate them from".into());
    }
    Ok(complete_grudge(&[isolated, rest]))
}

/// The grudge for a partition fault (not for `partition-leader`, which needs the primaries: use
/// `partition_primaries`).
pub fn topology<R: Rng>(fault: Fault, nodes: &[String], rng: &mut R) -> Result<Grudge, String> {
    match fault {
        Fault::PartitionOne => partition_one(nodes, rng),
        Fault::PartitionHalves => partition_halves(nodes, rng),
        Fault::PartitionRing => partition_ring(nodes, rng),
        Fault::PartitionBridge => partition_bridge(nodes, rng),
        Fault::PartitionOneway => partition_oneway(nodes, rng),
        other @ (Fault::PartitionLeader
        | Fault::Flaky
        | Fault::Slow
        | Fault::Duplicate
        | Fault::Reorder
        | Fault::Corrupt
        | Fault::Bandwidth
        | Fault::Kill
        | Fault::Pause
        | Fault::Clock
        | Fault::Failover) => Err(format!("{other} is not a partition with a random topology")),
    }
}

/// Whether `node` drops packets from `from` under any of `grudges`.
pub fn drops(grudges: &[&Grudge], node: &str, from: &str) -> bool {
    grudges.iter().any(|g| g.get(node).is_some_and(|s| s.contains(from)))
}

/// Whether a TCP connect from `from` to `to` succeeds under `grudges`: the SYN must reach `to` and
/// the SYN-ACK must reach `from`.
pub fn tcp_reachable(grudges: &[&Grudge], from: &str, to: &str) -> bool {
    !drops(grudges, to, from) && !drops(grudges, from, to)
}

/// The nodes `node` sees (accepts packets from), itself included.
pub fn sees(grudge: &Grudge, nodes: &[String], node: &str) -> BTreeSet<String> {
    nodes.iter().filter(|x| !drops(&[grudge], node, x)).cloned().collect()
}

/// Grudge as JSON: {"n1": ["n3", "n4"], ...}.
pub fn grudge_json(grudge: &Grudge) -> serde_json::Value {
    serde_json::to_value(grudge).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn nodes(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    fn no_self_grudge(g: &Grudge, ns: &[String]) {
        for (k, v) in g {
            assert!(ns.contains(k), "unknown node {k}");
            assert!(!v.contains(k), "{k} drops itself");
            assert!(v.iter().all(|x| ns.contains(x)));
        }
    }

    #[test]
    fn one_isolates_exactly_one_node() {
        for n in 1..=9 {
            let ns = nodes(n);
            let r = partition_one(&ns, &mut ChaCha8Rng::seed_from_u64(n as u64));
            if n < 2 {
                assert!(r.unwrap_err().contains("at least 2"));
                continue;
            }
            let g = r.unwrap();
            no_self_grudge(&g, &ns);
            let isolated: Vec<&String> = ns.iter().filter(|x| sees(&g, &ns, x).len() == 1).collect();
            if n == 2 {
                // Isolating one of two nodes isolates the other as well.
                assert_eq!(isolated.len(), 2, "{g:?}");
                assert!(!tcp_reachable(&[&g], "n1", "n2"));
                continue;
            }
            assert_eq!(isolated.len(), 1, "{g:?}");
            for x in &ns {
                if x != isolated[0] {
                    assert_eq!(sees(&g, &ns, x).len(), n - 1);
                    assert!(!tcp_reachable(&[&g], x, isolated[0]));
                }
            }
        }
    }

    #[test]
    fn halves_make_two_sides() {
        for n in 2..=9 {
            let ns = nodes(n);
            let g = partition_halves(&ns, &mut ChaCha8Rng::seed_from_u64(n as u64)).unwrap();
            no_self_grudge(&g, &ns);
            let views: BTreeSet<BTreeSet<String>> = ns.iter().map(|x| sees(&g, &ns, x)).collect();
            assert_eq!(views.len(), 2, "two sides for {n}: {views:?}");
            let sizes: Vec<usize> = views.iter().map(|v| v.len()).collect();
            assert_eq!(sizes.iter().sum::<usize>(), n);
            assert!(sizes.iter().all(|s| *s == n / 2 || *s == n - n / 2));
            // Symmetric: a link is cut both ways or not at all.
            for a in &ns {
                for b in &ns {
                    assert_eq!(drops(&[&g], a, b), drops(&[&g], b, a));
                }
            }
        }
        assert!(partition_halves(&nodes(1), &mut ChaCha8Rng::seed_from_u64(0)).is_err());
    }

    #[test]
    fn ring_every_node_sees_a_distinct_majority() {
        for n in 1..=9 {
            let ns = nodes(n);
            for seed in 0..5 {
                let r = partition_ring(&ns, &mut ChaCha8Rng::seed_from_u64(seed));
                if n < 3 {
                    assert!(r.unwrap_err().contains("at least 3"));
                    continue;
                }
                let g = r.unwrap();
                no_self_grudge(&g, &ns);
                let views: Vec<BTreeSet<String>> = ns.iter().map(|x| sees(&g, &ns, x)).collect();
                for (x, v) in ns.iter().zip(&views) {
                    assert!(v.len() >= majority(n), "n={n} {x} sees {v:?}");
                    assert!(v.len() < n, "n={n} {x} sees everyone");
                }
                let distinct: BTreeSet<&BTreeSet<String>> = views.iter().collect();
                assert_eq!(distinct.len(), n, "n={n}: two nodes see the same majority: {views:?}");
                if n >= 4 {
                    for a in &ns {
                        for b in &ns {
                            assert_eq!(drops(&[&g], a, b), drops(&[&g], b, a), "n={n} asymmetric");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn bridge_has_exactly_one_node_seeing_both_sides() {
        for n in 1..=9 {
            let ns = nodes(n);
            let r = partition_bridge(&ns, &mut ChaCha8Rng::seed_from_u64(3));
            if n < 3 {
                assert!(r.is_err());
                continue;
            }
            let g = r.unwrap();
            no_self_grudge(&g, &ns);
            let everyone: Vec<&String> = ns.iter().filter(|x| sees(&g, &ns, x).len() == n).collect();
            assert_eq!(everyone.len(), 1, "n={n} {g:?}");
            let bridge = everyone[0];
            // Everybody else is cut from somebody, but reaches the bridge.
            for x in ns.iter().filter(|x| *x != bridge) {
                assert!(sees(&g, &ns, x).len() < n);
                assert!(tcp_reachable(&[&g], x, bridge) && tcp_reachable(&[&g], bridge, x));
            }
            // The sides are cut from each other.
            let sides: BTreeSet<BTreeSet<String>> =
                ns.iter().filter(|x| *x != bridge).map(|x| sees(&g, &ns, x)).collect();
            assert_eq!(sides.len(), 2);
        }
    }

    #[test]
    fn oneway_is_asymmetric() {
        for n in 2..=9 {
            let ns = nodes(n);
            let g = partition_oneway(&ns, &mut ChaCha8Rng::seed_from_u64(n as u64)).unwrap();
            no_self_grudge(&g, &ns);
            assert!(!g.is_empty());
            let mut cut = 0;
            for a in &ns {
                for b in &ns {
                    if drops(&[&g], a, b) {
                        cut += 1;
                        assert!(!drops(&[&g], b, a), "{a} and {b} drop each other");
                    }
                }
            }
            assert_eq!(cut, (n / 2) * (n - n / 2));
        }
    }

    #[test]
    fn primaries_are_isolated_together() {
        let ns = nodes(5);
        let g = partition_primaries(&ns, &["n2".into()]).unwrap();
        assert_eq!(sees(&g, &ns, "n2"), BTreeSet::from(["n2".to_string()]));
        assert!(partition_primaries(&ns, &[]).is_err());
        assert!(partition_primaries(&ns, &ns).is_err());
    }

    #[test]
    fn topologies_are_seeded() {
        let ns = nodes(7);
        for f in [
            Fault::PartitionOne,
            Fault::PartitionHalves,
            Fault::PartitionRing,
            Fault::PartitionBridge,
            Fault::PartitionOneway,
        ] {
            let t = |s| topology(f, &ns, &mut ChaCha8Rng::seed_from_u64(s)).unwrap();
            assert_eq!(t(5), t(5));
            assert!((6..30).any(|s| t(s) != t(5)), "{f} ignores the seed");
        }
    }
}
