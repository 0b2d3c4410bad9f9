//! One enum over the databases' workload clients, so the runner's workers are plain tasks.

use crate::db::etcd_client::{EtcdClient, EtcdOptions};
use crate::db::redis_client::RedisClient;
use crate::db::{etcd, redis, DbKind, DbNode};
use crate::nemesis_exec::SshControl;
use crate::test_cmd::TestArgs;
use anyhow::Result;
use faultline_workloads::{Client, Completion, Invocation, WorkloadKind};
use std::sync::Arc;

pub enum AnyClient {
    Etcd(EtcdClient),
    Redis(RedisRouted),
}

impl Client for AnyClient {
    async fn invoke(&mut self, op: &Invocation) -> Completion {
        match self {
            AnyClient::Etcd(c) => c.invoke(op).await,
            AnyClient::Redis(c) => c.invoke(op).await,
        }
    }

    fn target(&self, op: &Invocation) -> Option<String> {
        match self {
            AnyClient::Etcd(_) => None,
            AnyClient::Redis(c) => c.target(op),
        }
    }
}

/// A Redis client that reads from its own node (a replica may serve stale data: that is part of
/// what the set checker measures) and sends writes to the current primary, following it after a
/// failover.
pub struct RedisRouted {
    own: RedisClient,
    workload: WorkloadKind,
    timeout: std::time::Duration,
    control: Arc<SshControl>,
    /// The primary the writer is connected to, and its connection.
    writer: Option<(String, RedisClient)>,
}

impl Client for RedisRouted {
    async fn invoke(&mut self, op: &Invocation) -> Completion {
        if op.is_read() {
            return self.own.invoke(op).await;
        }
        let Some(primary) = self.control.write_primary() else {
            return Completion::fail(op, "no primary known");
        };
        if self.writer.as_ref().map(|(name, _)| name != &primary.name).unwrap_or(true) {
            self.writer =
                Some((primary.name.clone(), RedisClient::new(&redis::addr(&primary), self.workload, self.timeout)));
        }
        let (_, writer) = self.writer.as_mut().expect("set above");
        let mut completion = writer.invoke(op).await;
        completion.served_by = Some(primary.name);
        completion
    }

    fn target(&self, op: &Invocation) -> Option<String> {
        (!op.is_read()).then(|| self.control.write_primary().map(|p| p.name)).flatten()
    }
}

/// A client bound to `node`.
pub fn client_for(
    db: DbKind,
    workload: WorkloadKind,
    node: &DbNode,
    args: &TestArgs,
    control: Arc<SshControl>,
) -> Result<AnyClient> {
    Ok(match db {
        DbKind::Etcd => AnyClient::Etcd(EtcdClient::new(
            &format!("{}:{}", node.host, etcd::CLIENT_PORT),
            workload,
            EtcdOptions { timeout: args.op_timeout, serializable_reads: args.serializable },
        )?),
        DbKind::Redis => AnyClient::Redis(RedisRouted {
            own: RedisClient::new(&redis::addr(node), workload, args.op_timeout),
            workload,
            timeout: args.op_timeout,
            control,
            writer: None,
        }),
    })
}
