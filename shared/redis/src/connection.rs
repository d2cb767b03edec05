//! The one Redis connection a container shares between invocations, and how it recovers
//! after a restart or failover.
use std::sync::{Arc, RwLock};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;

/// What a new connection is made from.
#[allow(clippy::large_enum_variant)] // one per container: its size does not matter
enum Client {
    Single(redis::Client),
    Cluster(ClusterClient, ClusterConfig),
}
use redis::{Cmd, Pipeline, RedisError, RedisFuture, RedisResult, ServerErrorKind, Value};

/// Sees each of a store's round trips before it goes out, and may hold it back: how a test
/// stops an operation right before a chosen step, lets that step's shard fall behind (or fail),
/// and then lets the operation go on (tests/api/replica_failover.rs). No production code sets
/// one; a store without a gate pays one `Option` check per round trip.
#[async_trait::async_trait]
pub trait RoundTripGate: Send + Sync {
    /// Called with the commands of one round trip (a pipeline's, or one command); they go out
    /// once this returns.
    async fn admit(&self, commands: &[&Cmd]);
}

/// A connection to a single Redis or to a Redis Cluster (`REDIS_CLUSTER=true`). The cluster
/// client routes each command and each script by its first key's hash slot and follows
/// MOVED/ASK redirections and failovers by itself; a pipeline goes to one node, so its
/// commands must share a slot.
#[derive(Clone)]
pub enum StoreConnection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for StoreConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(manager) => manager.req_packed_command(cmd),
            Self::Cluster(cluster) => cluster.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(manager) => manager.req_packed_commands(pipeline, offset, count),
            Self::Cluster(cluster) => cluster.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(manager) => manager.get_db(),
            Self::Cluster(cluster) => cluster.get_db(),
        }
    }
}

/// The current connection manager, replaced by a new one when the old one stops answering.
/// The manager reconnects by itself when the connection breaks, but not when the server just
/// stops answering (a primary gone with its host, no reset ever sent): every command would
/// then time out until TCP gives up, minutes later.
/// On a cluster the cluster client follows redirections and failovers itself; it is replaced
/// only when commands time out (a wedged client: seen after a resharding under load).
pub(super) struct SharedConnection {
    client: Client,
    config: ConnectionManagerConfig,
    /// A generation number with the manager, so that of many commands timing out on the same
    /// manager only the first replaces it.
    current: RwLock<(u64, StoreConnection)>,
}

impl SharedConnection {
    pub(super) fn new(client: redis::Client, config: ConnectionManagerConfig) -> RedisResult<Self> {
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())?;
        Ok(Self {
            client: Client::Single(client),
            config,
            current: RwLock::new((0, StoreConnection::Single(manager))),
        })
    }

    pub(super) fn cluster(client: ClusterClient, config: ClusterConfig) -> Self {
        let connection = client.get_pending_async_connection_with_config(config.clone());
        Self {
            client: Client::Cluster(client, config),
            config: ConnectionManagerConfig::new(),
            current: RwLock::new((0, StoreConnection::Cluster(connection))),
        }
    }

    fn current(&self) -> (u64, StoreConnection) {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(super) fn manager(&self) -> StoreConnection {
        self.current().1
    }

    pub(super) fn handle(self: &Arc<Self>, gate: Option<Arc<dyn RoundTripGate>>) -> Reconnecting {
        let (generation, manager) = self.current();
        Reconnecting {
            shared: Arc::clone(self),
            generation,
            manager,
            gate,
        }
    }

    fn replace(&self, generation: u64) {
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.0 != generation {
            return;
        }
        match &self.client {
            Client::Single(client) => {
                match ConnectionManager::new_lazy_with_config(client.clone(), self.config.clone()) {
                    Ok(fresh) => *current = (generation + 1, StoreConnection::Single(fresh)),
                    Err(error) => tracing::warn!(%error, "could not replace the Redis connection"),
                }
            }
            Client::Cluster(client, config) => {
                let fresh = client.get_pending_async_connection_with_config(config.clone());
                *current = (generation + 1, StoreConnection::Cluster(fresh));
            }
        }
    }
}

/// One use of the shared connection. A command that failed because the connection broke (a
/// Redis restart or failover) is repeated once: the manager reconnects on that error, so the
/// repeat runs on a fresh connection; so is a write refused as READONLY by a demoted primary,
/// on a connection made anew. Safe, because every call of the store may run twice:
/// reads, and scripts that are idempotent per request (the identical booking answers as
/// already held). A command that timed out is not repeated (its time is spent and the caller
/// answers 503, retry-safe), but the next ones run on a new connection.
pub(super) struct Reconnecting {
    shared: Arc<SharedConnection>,
    generation: u64,
    manager: StoreConnection,
    gate: Option<Arc<dyn RoundTripGate>>,
}

enum Recovery {
    RepeatOnce,
    GiveUp,
}

/// A failover demoted the node this connection reaches (the endpoint's name now points at the
/// new primary); a demoted primary keeps its clients, so nothing breaks by itself, and it
/// refuses writes with READONLY. A refused write was not applied: repeat it anew.
fn refused_by_replica(reply: &Value) -> bool {
    matches!(reply, Value::ServerError(error) if error.kind() == Some(ServerErrorKind::ReadOnly))
}

impl Reconnecting {
    /// Replaces the shared connection (if no other command did already) and uses the new one.
    fn renew(&mut self) {
        tracing::warn!("Redis node is a replica now; repeating once on a new connection");
        self.shared.replace(self.generation);
        (self.generation, self.manager) = self.shared.current();
    }

    fn recovery(&self, error: &RedisError) -> Recovery {
        if error.is_connection_dropped() {
            tracing::warn!(%error, "Redis connection broke; repeating once on a new one");
            return Recovery::RepeatOnce;
        }
        if error.is_timeout() {
            tracing::warn!(%error, "Redis did not answer; the next commands use a new connection");
            self.shared.replace(self.generation);
        }
        Recovery::GiveUp
    }
}

impl ConnectionLike for Reconnecting {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            if let Some(gate) = &self.gate {
                gate.admit(&[cmd]).await;
            }
            match self.manager.req_packed_command(cmd).await {
                Err(error) => match self.recovery(&error) {
                    Recovery::RepeatOnce => self.manager.req_packed_command(cmd).await,
                    Recovery::GiveUp => Err(error),
                },
                Ok(reply) if refused_by_replica(&reply) => {
                    self.renew();
                    self.manager.req_packed_command(cmd).await
                }
                reply => reply,
            }
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            if let Some(gate) = &self.gate {
                gate.admit(&pipeline.cmd_iter().collect::<Vec<_>>()).await;
            }
            match self
                .manager
                .req_packed_commands(pipeline, offset, count)
                .await
            {
                Err(error) => match self.recovery(&error) {
                    Recovery::RepeatOnce => {
                        self.manager
                            .req_packed_commands(pipeline, offset, count)
                            .await
                    }
                    Recovery::GiveUp => Err(error),
                },
                Ok(replies) if replies.iter().any(refused_by_replica) => {
                    self.renew();
                    self.manager
                        .req_packed_commands(pipeline, offset, count)
                        .await
                }
                replies => replies,
            }
        })
    }

    fn get_db(&self) -> i64 {
        self.manager.get_db()
    }
}
