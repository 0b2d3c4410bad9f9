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
    Redis(RedisClient),
}

impl Client for AnyClient {
    async fn invoke(&mut self, op: &Invocation) -> Completion {
        match self {
            AnyClient::Etcd(c) => c.invoke(op).await,
            AnyClient::Redis(c) => c.invoke(op).await,
        }
    }
}

/// A client bound to `node`.
pub fn client_for(
    db: DbKind,
    workload: WorkloadKind,
    node: &DbNode,
    _nodes: &[DbNode],
    args: &TestArgs,
    _control: Arc<SshControl>,
) -> Result<AnyClient> {
    Ok(match db {
        DbKind::Etcd => AnyClient::Etcd(EtcdClient::new(
            &format!("{}:{}", node.host, etcd::CLIENT_PORT),
            workload,
            EtcdOptions { timeout: args.op_timeout, serializable_reads: args.serializable },
        )?),
        DbKind::Redis => AnyClient::Redis(RedisClient::new(&redis::addr(node), workload, args.op_timeout)),
    })
}
