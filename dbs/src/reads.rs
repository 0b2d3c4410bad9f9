//! Where reads go (`--read-from`): a client's own node, the current leader, a follower, or any
//! node. Weaker read paths (etcd's serializable reads on a follower, Redis replica reads) are what
//! the consistency ladder is for, so a run can ask for them deliberately.
//!
//! [`ReadRouted`] wraps one client per node: writes and every other operation go through the
//! worker's own client, as without routing; each read goes through the client of the node the
//! policy picks, and the history records that node (the invoke's and the completion's `node`).
//! [`LeaderWatch`] keeps the database's current leaders, asked every 250 ms through
//! [`crate::PrimaryControl::primaries`], so reads follow an election or a failover.

use crate::{Db, DbNode};
use async_trait::async_trait;
use faultline_workloads::{Client, Completion, Invocation};
use std::cell::Cell;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Which node serves a worker's reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReadFrom {
    /// The node the worker's client is bound to (as without `--read-from`).
    #[default]
    OwnNode,
    /// The current leader (or primary); the own node while no leader is known.
    Leader,
    /// A node that is not the leader: the own node if it is one, else the next follower.
    Follower,
    /// A node drawn per read (seeded).
    Any,
}

impl ReadFrom {
    pub const NAMES: [&'static str; 4] = ["own-node", "leader", "follower", "any"];

    pub fn name(self) -> &'static str {
        match self {
            ReadFrom::OwnNode => "own-node",
            ReadFrom::Leader => "leader",
            ReadFrom::Follower => "follower",
            ReadFrom::Any => "any",
        }
    }

    pub fn parse(name: &str) -> Option<ReadFrom> {
        [ReadFrom::OwnNode, ReadFrom::Leader, ReadFrom::Follower, ReadFrom::Any].into_iter().find(|r| r.name() == name)
    }

    /// Whether the policy needs to know the leader.
    pub fn needs_leader(self) -> bool {
        matches!(self, ReadFrom::Leader | ReadFrom::Follower)
    }
}

/// The database's current leaders by node name, shared by every routed client. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct LeaderWatch(Arc<RwLock<Vec<String>>>);

impl LeaderWatch {
    /// Ask `db` for its leaders now and then every 250 ms until `stop`. A database without the
    /// primary capability never has a known leader.
    pub async fn start(db: &'static dyn Db, nodes: Vec<DbNode>, stop: CancellationToken) -> LeaderWatch {
        let watch = LeaderWatch::default();
        let Some(primary) = db.primary() else { return watch };
        if let Ok(l) = primary.primaries(&nodes).await {
            watch.set(l);
        }
        let w = watch.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                    _ = stop.cancelled() => return,
                }
                // A failed or empty answer (a partition, an election) keeps the last known leader.
                if let Ok(l) = primary.primaries(&nodes).await {
                    if !l.is_empty() {
                        w.set(l);
                    }
                }
            }
        });
        watch
    }

    pub fn set(&self, leaders: Vec<String>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = leaders;
    }

    pub fn get(&self) -> Vec<String> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// One worker's clients, one per node, with reads routed by a [`ReadFrom`] policy.
pub struct ReadRouted {
    /// (node name, its client), in the run's node order.
    clients: Vec<(String, Box<dyn Client>)>,
    /// The worker's own node, as an index into `clients`.
    own: usize,
    read_from: ReadFrom,
    leaders: LeaderWatch,
    /// State of the `any` policy's generator (splitmix64), seeded per worker.
    draw: Cell<u64>,
    /// The node `target` chose for the read about to be invoked, so `invoke` sends it there.
    chosen: Cell<Option<usize>>,
}

impl ReadRouted {
    pub fn new(
        clients: Vec<(String, Box<dyn Client>)>,
        own: usize,
        read_from: ReadFrom,
        leaders: LeaderWatch,
        seed: u64,
    ) -> ReadRouted {
        assert!(own < clients.len(), "the own node must be one of the clients");
        ReadRouted { clients, own, read_from, leaders, draw: Cell::new(seed), chosen: Cell::new(None) }
    }

    /// The node a read goes to now.
    fn pick(&self) -> usize {
        let index_of = |name: &str| self.clients.iter().position(|(n, _)| n == name);
        match self.read_from {
            ReadFrom::OwnNode => self.own,
            ReadFrom::Leader => self.leaders.get().first().and_then(|l| index_of(l)).unwrap_or(self.own),
            ReadFrom::Follower => {
                let leaders = self.leaders.get();
                let n = self.clients.len();
                (0..n).map(|i| (self.own + i) % n).find(|&i| !leaders.contains(&self.clients[i].0)).unwrap_or(self.own)
            }
            ReadFrom::Any => (splitmix64(&self.draw) % self.clients.len() as u64) as usize,
        }
    }
}

/// Sebastiano Vigna's splitmix64: a tiny seeded generator, enough to spread reads over nodes.
fn splitmix64(state: &Cell<u64>) -> u64 {
    let s = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
    state.set(s);
    let mut z = s;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[async_trait]
impl Client for ReadRouted {
    async fn open(&mut self) -> anyhow::Result<()> {
        for (_, c) in &mut self.clients {
            c.open().await?;
        }
        Ok(())
    }

    async fn setup(&mut self) -> anyhow::Result<()> {
        self.clients[self.own].1.setup().await
    }

    async fn invoke(&mut self, op: &Invocation) -> Completion {
        if !op.is_read() {
            return self.clients[self.own].1.invoke(op).await;
        }
        let i = self.chosen.take().unwrap_or_else(|| self.pick());
        let (name, client) = &mut self.clients[i];
        let mut completion = client.invoke(op).await;
        completion.served_by.get_or_insert_with(|| name.clone());
        completion
    }

    async fn teardown(&mut self) -> anyhow::Result<()> {
        self.clients[self.own].1.teardown().await
    }

    async fn close(&mut self) {
        for (_, c) in &mut self.clients {
            c.close().await;
        }
    }

    fn target(&self, op: &Invocation) -> Option<String> {
        if !op.is_read() {
            return self.clients[self.own].1.target(op);
        }
        let i = self.pick();
        self.chosen.set(Some(i));
        Some(self.clients[i].0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A client that answers every op with the name of its node.
    struct Named(&'static str);

    #[async_trait]
    impl Client for Named {
        async fn invoke(&mut self, _op: &Invocation) -> Completion {
            Completion::ok(json!(self.0))
        }
    }

    fn routed(read_from: ReadFrom, leaders: &[&str]) -> ReadRouted {
        let clients: Vec<(String, Box<dyn Client>)> =
            ["n1", "n2", "n3"].iter().map(|n| (n.to_string(), Box::new(Named(n)) as Box<dyn Client>)).collect();
        let watch = LeaderWatch::default();
        watch.set(leaders.iter().map(|l| l.to_string()).collect());
        ReadRouted::new(clients, 0, read_from, watch, 7)
    }

    async fn read_goes_to(r: &mut ReadRouted) -> (String, String) {
        let read = Invocation::new("read", Some(json!(1)), json!(null));
        let target = r.target(&read).unwrap();
        let c = r.invoke(&read).await;
        assert_eq!(c.served_by.as_deref(), Some(target.as_str()));
        (target, c.value.as_str().unwrap().to_string())
    }

    #[tokio::test]
    async fn reads_follow_the_policy_and_writes_stay_on_the_own_node() {
        let write = Invocation::new("write", Some(json!(1)), json!(5));
        for (policy, leaders, want) in [
            (ReadFrom::OwnNode, vec!["n2"], "n1"),
            (ReadFrom::Leader, vec!["n2"], "n2"),
            (ReadFrom::Leader, vec![], "n1"),
            (ReadFrom::Follower, vec!["n1"], "n2"),
            (ReadFrom::Follower, vec!["n2"], "n1"),
        ] {
            let mut r = routed(policy, &leaders);
            let (target, served) = read_goes_to(&mut r).await;
            assert_eq!((target.as_str(), served.as_str()), (want, want), "{policy:?} with leaders {leaders:?}");
            assert_eq!(r.invoke(&write).await.value, json!("n1"), "{policy:?}: writes go through the own client");
        }
        let mut any = routed(ReadFrom::Any, &[]);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..60 {
            let (target, served) = read_goes_to(&mut any).await;
            assert_eq!(target, served);
            seen.insert(target);
        }
        assert_eq!(seen.len(), 3, "`any` reaches every node: {seen:?}");
        assert_eq!(ReadFrom::parse("follower"), Some(ReadFrom::Follower));
        assert_eq!(ReadFrom::parse("replica"), None);
    }
}
