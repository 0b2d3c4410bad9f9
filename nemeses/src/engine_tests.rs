//! Engine tests over the in-memory fake control: rules match the grudge, probes verify (and catch a
//! rule that did not take), stop and heal are exact and idempotent, process/clock/netem faults undo
//! what they did, and `heal_nodes` cleans up after a crash.

use serde_json::Value;
use std::collections::BTreeSet;

use crate::control::DbControl;
use crate::engine::{Nemesis, NemesisOptions};
use crate::fake::{DbState, FakeControl};
use crate::fault::{Fault, Targets};
use crate::grudge::{self, Grudge};
use crate::heal::heal_nodes;
use crate::schedule::{interval_schedule, Action};

fn nemesis(ctl: &FakeControl, seed: u64) -> Nemesis<&FakeControl> {
    Nemesis::new(ctl, seed, NemesisOptions::default())
}

fn grudge_of(v: &Value) -> Grudge {
    serde_json::from_value(v["grudge"].clone()).expect("grudge in value")
}

fn assert_clean(ctl: &FakeControl) {
    for n in ctl.nodes_for_tests() {
        assert!(ctl.rules(&n, "iptables").is_empty(), "{n} still has rules");
        assert!(ctl.qdisc_devs(&n).is_empty(), "{n} still has qdiscs");
        assert_eq!(ctl.db(&n), DbState::Running, "{n} database not running");
        assert_eq!(ctl.clock_ms(&n), 0, "{n} clock not restored");
    }
}

impl FakeControl {
    fn nodes_for_tests(&self) -> Vec<String> {
        crate::control::Shell::nodes(self)
    }
}

const PARTITIONS: [Fault; 5] =
    [Fault::PartitionOne, Fault::PartitionHalves, Fault::PartitionRing, Fault::PartitionBridge, Fault::PartitionOneway];

#[tokio::test]
async fn partitions_apply_the_grudge_verify_and_stop() {
    for n in 3..=9 {
        for fault in PARTITIONS {
            let ctl = FakeControl::new(n);
            let mut nem = nemesis(&ctl, n as u64);
            let v = nem.start(fault, None, None, None).await.unwrap();
            assert_eq!(v["fault"], fault.name());
            assert_eq!(v["verified"], true, "{fault} on {n}: {v}");
            let g = grudge_of(&v);
            // Each node's chain holds exactly one DROP per node it drops, by address.
            for node in ctl.nodes_for_tests() {
                let want: BTreeSet<Vec<String>> = g
                    .get(&node)
                    .into_iter()
                    .flatten()
                    .map(|p| vec!["-s".into(), ctl_addr(&ctl, p), "-j".into(), "DROP".into()])
                    .collect();
                let got: BTreeSet<Vec<String>> = ctl.rules(&node, "iptables").into_iter().collect();
                assert_eq!(got, want, "{fault} n={n} {node}");
                if g.contains_key(&node) {
                    assert_eq!(ctl.jumps(&node, "iptables"), vec!["INPUT".to_string(), "OUTPUT".to_string()]);
                }
            }
            // The probe matrix says what TCP saw: cut exactly where either end drops the other.
            for (from, row) in v["probes"].as_object().unwrap() {
                for (to, got) in row.as_object().unwrap() {
                    let want = if grudge::tcp_reachable(&[&g], from, to) { "ok" } else { "cut" };
                    assert_eq!(got, want, "{fault} {from}->{to}");
                }
            }
            assert!(v["apply_ms"].is_u64() && v["verify_ms"].is_u64());
            let s = nem.stop(fault).await.unwrap();
            assert_eq!(s["verified"], true, "{s}");
            assert!(s["probes"].to_string().contains("\"ok\"") && !s["probes"].to_string().contains("cut"));
            assert_clean(&ctl);
            assert!(nem.active().is_empty());
            assert!(ctl.unknown_commands().is_empty(), "{:?}", ctl.unknown_commands());
        }
    }
}

fn ctl_addr(ctl: &FakeControl, node: &str) -> String {
    crate::control::Shell::address(ctl, node)
}

#[tokio::test]
async fn a_rule_that_does_not_take_is_not_verified() {
    let mut ctl = FakeControl::new(5);
    ctl.ignore_rules = true;
    let mut nem = nemesis(&ctl, 1);
    let v = nem.start(Fault::PartitionHalves, None, None, None).await.unwrap();
    assert_eq!(v["verified"], false, "{v}");
    let reason = v["reason"].as_str().unwrap();
    assert!(reason.contains("expected cut, got ok"), "{reason}");
}

#[tokio::test]
async fn oneway_is_verified_in_the_cut_direction_and_says_so() {
    let ctl = FakeControl::new(5);
    let mut nem = nemesis(&ctl, 4);
    let v = nem.start(Fault::PartitionOneway, None, None, None).await.unwrap();
    assert_eq!(v["verified"], true, "{v}");
    assert!(v["note"].as_str().unwrap().contains("one-way"));
    let g = grudge_of(&v);
    let (deaf, heard) = g.iter().next().map(|(k, v)| (k.clone(), v.iter().next().unwrap().clone())).unwrap();
    assert!(!g.get(&heard).is_some_and(|s| s.contains(&deaf)), "asymmetric");
    assert_eq!(v["probes"][&heard][&deaf], "cut");
    assert_eq!(v["probes"][&deaf][&heard], "cut");
}

#[tokio::test]
async fn chain_setup_is_idempotent() {
    let ctl = FakeControl::new(5);
    let mut nem = nemesis(&ctl, 2);
    for _ in 0..3 {
        nem.start(Fault::PartitionOne, None, None, None).await.unwrap();
        nem.stop(Fault::PartitionOne).await.unwrap();
    }
    for n in ctl.nodes_for_tests() {
        let jumps = ctl.jumps(&n, "iptables");
        assert!(jumps.len() <= 2, "{n}: {jumps:?}");
    }
    // A fresh engine (e.g. the next run) checks with -C before inserting.
    let mut again = nemesis(&ctl, 3);
    again.start(Fault::PartitionHalves, None, None, None).await.unwrap();
    for n in ctl.nodes_for_tests() {
        assert!(ctl.jumps(&n, "iptables").len() <= 2);
    }
    let calls = ctl.calls();
    let first_insert = calls.iter().position(|(_, a)| a.get(2).is_some_and(|w| w == "-I")).unwrap();
    assert!(calls[..first_insert].iter().any(|(_, a)| a.get(2).is_some_and(|w| w == "-C")));
    // Every iptables call stays in FAULTLINE or only jumps to it.
    for (_, a) in calls.iter().filter(|(_, a)| a[0] == "iptables") {
        assert!(a[3] == "FAULTLINE" || a.ends_with(&["-j".to_string(), "FAULTLINE".to_string()]), "{a:?}");
    }
}

#[tokio::test]
async fn stopping_one_partition_keeps_the_other() {
    let ctl = FakeControl::new(5);
    let mut nem = nemesis(&ctl, 5);
    let a = nem.start(Fault::PartitionOne, None, None, None).await.unwrap();
    let b = nem.start(Fault::PartitionRing, None, None, None).await.unwrap();
    assert_eq!(b["verified"], true, "{b}");
    let s = nem.stop(Fault::PartitionOne).await.unwrap();
    assert_eq!(s["verified"], true, "{s}");
    let ring = grudge_of(&b);
    let left: usize = ctl.nodes_for_tests().iter().map(|n| ctl.rules(n, "iptables").len()).sum();
    assert_eq!(left, ring.values().map(|s| s.len()).sum::<usize>());
    assert!(grudge_of(&a).len() > 1);
    assert_eq!(nem.active(), vec![Fault::PartitionRing]);
    assert!(nem.stop(Fault::PartitionOne).await.unwrap_err().to_string().contains("not applied"));
    assert!(nem
        .start(Fault::PartitionRing, None, None, None)
        .await
        .unwrap_err()
        .to_string()
        .contains("already applied"));
}

#[tokio::test]
async fn heal_all_is_exact_and_idempotent() {
    let ctl = FakeControl::new(5);
    let mut nem = nemesis(&ctl, 6);
    nem.start(Fault::PartitionBridge, None, None, None).await.unwrap();
    let k = nem.start(Fault::Kill, Some(Targets::One), None, None).await.unwrap();
    let killed: Vec<String> = serde_json::from_value(k["targets"].clone()).unwrap();
    assert_eq!(k["signal"], "SIGKILL");
    let p = nem.start(Fault::Pause, None, Some(vec!["n5".into()]), None).await.unwrap();
    assert_eq!(p["verified"], true);
    let f = nem.start(Fault::Flaky, Some(Targets::Majority), None, None).await.unwrap();
    assert_eq!((f["loss"].as_f64(), f["verified"].as_bool()), (Some(0.2), Some(true)), "{f}");
    let sl = nem.start(Fault::Slow, Some(Targets::All), None, None).await.unwrap();
    assert_eq!(sl["verified"], true, "{sl}");
    let c = nem.start(Fault::Clock, Some(Targets::Minority), None, None).await.unwrap();
    assert_eq!(c["verified"], true, "{c}");
    for n in &killed {
        assert_eq!(ctl.db(n), DbState::Killed);
    }
    assert_eq!(ctl.db("n5"), DbState::Paused);
    ctl.clear_calls();

    let report = nem.heal_all().await;
    assert!(report.verified(), "{:?}", report.value());
    assert!(report.lines.iter().any(|l| l.contains("flushed")), "{:?}", report.lines);
    assert!(report.lines.iter().any(|l| l.contains("netem")));
    assert!(report.lines.iter().any(|l| l.contains("moved") && l.contains("clock back")));
    assert_clean(&ctl);
    // Exact: only the killed node was restarted, only the paused one resumed.
    let db_calls = ctl.db_calls();
    let restarted: Vec<String> = db_calls.iter().filter(|(_, op)| *op == "restart").map(|(n, _)| n.clone()).collect();
    assert_eq!(restarted, killed);
    assert_eq!(db_calls.iter().filter(|(_, op)| *op == "resume").count(), 1);
    assert!(nem.active().is_empty());

    // Idempotent: nothing left to heal, nothing done beyond looking.
    ctl.clear_calls();
    let again = nem.heal_all().await;
    assert!(again.lines.is_empty(), "{:?}", again.lines);
    assert!(again.verified());
    assert!(ctl.db_calls().is_empty());
    assert!(ctl.calls().iter().all(|(_, a)| a[0] == "timeout" || a[2] == "-S"), "{:?}", ctl.calls());
    assert_eq!(again.value()["healed"], serde_json::json!([]));
}

#[tokio::test]
async fn heal_flushes_rules_it_did_not_track() {
    let ctl = FakeControl::new(3);
    ctl.plant_rule("n2", "iptables", vec!["-s".into(), "10.233.0.11".into(), "-j".into(), "DROP".into()]);
    let mut nem = nemesis(&ctl, 7);
    let r = nem.heal_all().await;
    assert_eq!(r.lines, vec!["n2: flushed 1 rule(s) from iptables chain FAULTLINE".to_string()]);
    assert!(r.verified(), "{:?}", r.value());
}

#[tokio::test]
async fn teardown_removes_jumps_and_chain() {
    let ctl = FakeControl::new(4);
    let mut nem = nemesis(&ctl, 8);
    nem.start(Fault::PartitionHalves, None, None, None).await.unwrap();
    let r = nem.teardown().await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    for n in ctl.nodes_for_tests() {
        assert!(!ctl.has_chain(&n, "iptables"), "{n}");
        assert!(ctl.jumps(&n, "iptables").is_empty(), "{n}");
    }
    assert!(r.lines.iter().any(|l| l.contains("removed iptables chain FAULTLINE")), "{:?}", r.lines);
}

#[tokio::test]
async fn clock_is_refused_on_a_shared_clock_and_undone_elsewhere() {
    let mut shared = FakeControl::new(3);
    shared.shared_clock = true;
    let mut nem = nemesis(&shared, 9);
    let e = nem.start(Fault::Clock, None, None, None).await.unwrap_err().to_string();
    assert!(e.contains("share one kernel clock"), "{e}");
    assert!(shared.calls().is_empty(), "no command may run");

    let ctl = FakeControl::new(3);
    let mut nem = nemesis(&ctl, 9);
    let v = nem.start(Fault::Clock, Some(Targets::All), None, None).await.unwrap();
    let offsets = v["offsets_ms"].as_object().unwrap();
    assert_eq!(offsets.len(), 3);
    for (node, off) in offsets {
        let off = off.as_i64().unwrap();
        assert!(off.abs() >= 100 && off.abs() <= 30_000);
        assert_eq!(ctl.clock_ms(node), off);
    }
    let s = nem.stop(Fault::Clock).await.unwrap();
    assert_eq!(s["verified"], true);
    assert_clean(&ctl);
}

#[tokio::test]
async fn clock_on_a_shared_clock_moves_the_database_through_libfaketime_and_is_verified() {
    let mut ctl = FakeControl::new(3);
    ctl.shared_clock = true;
    ctl.faketime = true;
    let mut nem = nemesis(&ctl, 9);
    assert!(nem.unsupported_faults().await.iter().all(|(f, _)| *f != Fault::Clock));
    let v = nem.start(Fault::Clock, Some(Targets::All), None, None).await.unwrap();
    assert_eq!(v["mechanism"], "libfaketime");
    assert_eq!(v["verified"], true, "{v}");
    for (node, off) in v["offsets_ms"].as_object().unwrap() {
        let off = off.as_i64().unwrap();
        assert_eq!(ctl.clock_ms(node), off, "the offset file holds the offset");
        let m = &v["measured"][node];
        let change = m["after_ms"].as_f64().unwrap() - m["before_ms"].as_f64().unwrap();
        assert!((change - off as f64).abs() < 50.0, "{node}: measured {change}, applied {off}");
    }
    assert!(ctl.calls().iter().all(|(_, a)| !a.join(" ").contains("date -s")), "never date -s on a shared clock");
    let s = nem.stop(Fault::Clock).await.unwrap();
    assert_eq!(s["verified"], true, "{s}");
    assert!(s["healed"].as_array().unwrap().iter().any(|l| l.as_str().unwrap().contains("libfaketime offset")));
    for n in ctl.nodes_for_tests() {
        assert_eq!(ctl.clock_ms(&n), 0, "{n}");
        assert!(s["measured"][&n]["after_heal_ms"].as_f64().unwrap().abs() < 50.0, "{s}");
    }
    // A run killed mid-fault: `faultline heal` removes the offset file.
    nem.start(Fault::Clock, Some(Targets::All), None, None).await.unwrap();
    let r = crate::heal::heal_nodes(&ctl).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.fixed.iter().filter(|l| l.contains("libfaketime clock offset")).count(), 3, "{:?}", r.fixed);
    for n in ctl.nodes_for_tests() {
        assert_eq!(ctl.clock_ms(&n), 0, "{n}");
    }
}

#[tokio::test]
async fn unsupported_faults_name_netem_and_clock() {
    let mut ctl = FakeControl::new(2);
    ctl.shared_clock = true;
    ctl.netem = false;
    let nem = nemesis(&ctl, 10);
    let u = nem.unsupported_faults().await;
    let why = |f: Fault| u.iter().find(|(x, _)| *x == f).map(|(_, r)| r.clone());
    let slow = why(Fault::Slow).unwrap();
    assert!(slow.contains("sch_netem") && slow.contains("modprobe sch_netem"), "{slow}");
    assert!(why(Fault::Clock).unwrap().contains("share one"));
    assert!(why(Fault::PartitionRing).unwrap().contains("at least 3"));
    assert!(why(Fault::PartitionHalves).is_none());
    assert!(why(Fault::Kill).is_none());

    assert!(why(Fault::Failover).unwrap().contains("elects its own leader"));

    assert!(why(Fault::Corrupt).unwrap().contains("packet agent"));

    let mut ok = FakeControl::new(5);
    ok.failover = true;
    ok.agent_binary = Some("/usr/local/bin/faultline".into());
    assert!(nemesis(&ok, 1).unsupported_faults().await.is_empty());
    // Without netem, `slow` falls back to the agent rather than being refused.
    ok.netem = false;
    assert!(nemesis(&ok, 1).unsupported_faults().await.is_empty());
}

#[tokio::test]
async fn failover_isolates_the_primary_promotes_a_replica_and_rejoins_it() {
    let mut ctl = FakeControl::new(3);
    ctl.failover = true;
    ctl.primaries = vec!["n1".into()];
    let mut nem = nemesis(&ctl, 4);
    let v = nem.start(Fault::Failover, None, None, None).await.unwrap();
    assert_eq!(v["old_primary"], "n1");
    let new = v["new_primary"].as_str().unwrap().to_string();
    assert_ne!(new, "n1");
    assert_eq!(v["verified"], true, "{v}");
    // n1 is cut off from both replicas, both ways; the replicas still see each other.
    assert_eq!(v["probes"]["n1"]["n2"], "cut");
    assert_eq!(v["probes"]["n3"]["n1"], "cut");
    assert_eq!(v["probes"]["n2"]["n3"], "ok");
    assert!(ctl.db_calls().contains(&(new.clone(), "promote")));
    // Stopping removes the rules, then the old primary follows the new one.
    let s = nem.stop(Fault::Failover).await.unwrap();
    assert_eq!(s["verified"], true, "{s}");
    assert_eq!(ctl.db_calls().last(), Some(&(new, "follow")));
    assert!(nem.active().is_empty());
}

#[tokio::test]
async fn failover_is_refused_when_the_database_elects_its_own_leader() {
    let ctl = FakeControl::new(3);
    let mut nem = nemesis(&ctl, 4);
    let e = nem.start(Fault::Failover, None, None, None).await.unwrap_err();
    assert!(format!("{e:#}").contains("elects its own leader"), "{e:#}");
}

#[tokio::test]
async fn slow_without_netem_is_not_verified_and_leaves_nothing() {
    let mut ctl = FakeControl::new(3);
    ctl.netem = false;
    let mut nem = nemesis(&ctl, 11);
    let v = nem.start(Fault::Slow, None, None, None).await.unwrap();
    assert_eq!(v["verified"], false);
    assert!(v["reason"].as_str().unwrap().contains("qdisc kind is unknown"), "{v}");
    let r = nem.heal_all().await;
    assert!(r.lines.is_empty(), "{:?}", r.lines);
    assert_clean(&ctl);
}

#[tokio::test]
async fn leader_partition_isolates_the_primary() {
    let mut ctl = FakeControl::new(5);
    ctl.primaries = vec!["n3".into()];
    let mut nem = nemesis(&ctl, 12);
    let v = nem.start(Fault::PartitionLeader, None, None, None).await.unwrap();
    assert_eq!(v["verified"], true);
    let g = grudge_of(&v);
    assert_eq!(g["n3"].len(), 4);
    let k = nem.start(Fault::Kill, Some(Targets::Primaries), None, None).await.unwrap();
    assert_eq!(k["targets"], serde_json::json!(["n3"]));

    let none = FakeControl::new(5);
    let e = nemesis(&none, 1).start(Fault::PartitionLeader, None, None, None).await.unwrap_err();
    assert!(e.to_string().contains("no primary"), "{e}");
}

#[tokio::test]
async fn unreachable_nodes_make_faults_unverified() {
    let mut ctl = FakeControl::new(3);
    ctl.unreachable.insert("n2".into());
    let mut nem = nemesis(&ctl, 13);
    let g: Grudge = [
        ("n1".to_string(), BTreeSet::from(["n2".to_string()])),
        ("n2".to_string(), BTreeSet::from(["n1".to_string()])),
    ]
    .into_iter()
    .collect();
    let v = nem.start(Fault::PartitionHalves, None, None, Some(g)).await.unwrap();
    assert_eq!(v["verified"], false);
    assert!(v["reason"].as_str().unwrap().contains("unreachable"), "{v}");
    let k = nem.start(Fault::Kill, None, Some(vec!["n2".into()]), None).await.unwrap();
    assert_eq!(k["verified"], false);
    let r = nem.heal_all().await;
    assert!(!r.verified());
    assert!(r.value()["reason"].as_str().unwrap().contains("n2"));
}

#[tokio::test]
async fn pinned_grudges_and_nodes_are_checked() {
    let ctl = FakeControl::new(3);
    let mut nem = nemesis(&ctl, 14);
    let bad: Grudge = [("n9".to_string(), BTreeSet::from(["n1".to_string()]))].into_iter().collect();
    assert!(nem.start(Fault::PartitionOne, None, None, Some(bad)).await.unwrap_err().to_string().contains("'n9'"));
    let selfish: Grudge = [("n1".to_string(), BTreeSet::from(["n1".to_string()]))].into_iter().collect();
    assert!(nem.start(Fault::PartitionOne, None, None, Some(selfish)).await.is_err());
    assert!(nem.start(Fault::Kill, None, Some(vec!["n7".into()]), None).await.is_err());
    assert!(ctl.calls().is_empty() && ctl.db_calls().is_empty());
}

#[tokio::test]
async fn same_seed_same_faults() {
    let run = |seed| async move {
        let ctl = FakeControl::new(7);
        let mut nem = nemesis(&ctl, seed);
        let mut out = Vec::new();
        for f in [Fault::PartitionRing, Fault::PartitionHalves, Fault::Kill] {
            let v = nem.start(f, None, None, None).await.unwrap();
            out.push((v["grudge"].clone(), v["targets"].clone()));
        }
        out
    };
    assert_eq!(run(21).await, run(21).await);
    assert_ne!(run(21).await, run(22).await);
}

#[tokio::test]
async fn a_whole_schedule_ends_healed() {
    let ctl = FakeControl::new(5);
    let faults = [
        Fault::PartitionRing,
        Fault::PartitionOneway,
        Fault::Kill,
        Fault::Pause,
        Fault::Flaky,
        Fault::Slow,
        Fault::Clock,
    ];
    let steps =
        interval_schedule(77, &faults, std::time::Duration::from_secs(5), std::time::Duration::from_secs(120)).unwrap();
    let mut nem = nemesis(&ctl, 77);
    for step in &steps {
        let v = nem.apply(&step.action).await.unwrap();
        if matches!(step.action, Action::Start { .. } | Action::Stop { .. }) {
            assert_eq!(v["verified"], true, "{:?}: {v}", step.action);
        }
    }
    assert!(nem.active().is_empty());
    assert_clean(&ctl);
    // Never a rule naming the control node.
    assert!(ctl.calls().iter().all(|(_, a)| !a.contains(&"10.233.0.1".to_string())));
}

#[tokio::test]
async fn heal_nodes_cleans_up_after_a_crash() {
    let ctl = FakeControl::new(3);
    ctl.plant_rule("n1", "iptables", vec!["-s".into(), "10.233.0.12".into(), "-j".into(), "DROP".into()]);
    ctl.plant_qdisc("n2", "eth0");
    ctl.set_db("n3", DbState::Paused);
    let r = heal_nodes(&ctl).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(
        r.fixed,
        vec![
            "n1: removed iptables chain FAULTLINE (1 rule(s), 2 jump(s))".to_string(),
            "n2: removed faultline's netem qdisc from eth0".to_string(),
        ]
    );
    // Only the shell is needed: the paused database is left to the database control.
    assert_eq!(ctl.resume_db("n3").await.unwrap(), "SIGCONT pid 1002");
    for n in ["n1", "n2", "n3"] {
        assert!(!ctl.has_chain(n, "iptables") && ctl.jumps(n, "iptables").is_empty());
    }
    assert_clean(&ctl);
    let again = heal_nodes(&ctl).await;
    assert_eq!(again, Default::default());
}
