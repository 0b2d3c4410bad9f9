//! A Redis client that reads from its own node and sends writes to the current primary,
//! following it after a failover.

use super::client::RedisClient;
use crate::{DbNode, KvShape, PrimaryRoute};
use async_trait::async_trait;
use faultline_workloads::{Client, Completion, Invocation};
use std::time::Duration;

/// Reads from its own node (a replica may serve stale data: that is part of what the set checker
/// measures), writes to the primary the [`PrimaryRoute`] names.
pub struct RedisRouted {
    own: RedisClient,
    shape: KvShape,
    timeout: Duration,
    route: PrimaryRoute,
    /// The primary the writer is connected to, and its connection.
    writer: Option<(String, RedisClient)>,
}

impl RedisRouted {
    pub fn new(node: &DbNode, shape: KvShape, timeout: Duration, route: PrimaryRoute) -> RedisRouted {
        RedisRouted { own: RedisClient::new(&super::addr(node), shape, timeout), shape, timeout, route, writer: None }
    }
}

#[async_trait]
impl Client for RedisRouted {
    async fn invoke(&mut self, op: &Invocation) -> Completion {
        if op.is_read() {
            return self.own.invoke(op).await;
        }
        let primary = self.route.get();
        if primary.name.is_empty() {
            return Completion::fail(op, "no primary known");
        }
        if self.writer.as_ref().map(|(name, _)| name != &primary.name).unwrap_or(true) {
            let addr = format!("{}:{}", primary.host, super::PORT);
            self.writer = Some((primary.name.clone(), RedisClient::new(&addr, self.shape, self.timeout)));
        }
        let (_, writer) = self.writer.as_mut().expect("set above");
        let mut completion = writer.invoke(op).await;
        completion.served_by = Some(primary.name);
        completion
    }

    fn target(&self, op: &Invocation) -> Option<String> {
        (!op.is_read()).then(|| self.route.get().name)
    }
}
