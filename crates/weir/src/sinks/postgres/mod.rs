//! The PostgreSQL sink: each top-level field of a record goes to the column of the same name.
//!
//! Each lane has its own connection. Records of the open epoch are encoded as COPY text rows as
//! they are written and kept in memory; `precommit(e)` sends them in one transaction (COPY in
//! 1 MiB pieces), so a connection lost at any point is repaired by reconnecting and sending the
//! epoch again. Every database call goes through the sink's dependency (bulkhead, breaker,
//! retry, each statement under the timeout); while its breaker is open the lane waits in the
//! call — it reads nothing and dead-letters nothing — and goes on after a successful probe.
//!
//! ## `mode: upsert` — effectively-once
//!
//! `precommit(e)`, in one transaction: first optimistically a plain `COPY t FROM STDIN` under a
//! savepoint — new keys only, as fast as a bulk load. When a key exists already (a replay, an
//! update) or comes twice within the epoch, the unique violation rolls that back to the
//! savepoint and the rows go through `weir_stage` (a session temp table shaped like `t`, plus
//! the arrival order): `INSERT INTO t SELECT DISTINCT ON (key) ... ORDER BY key, arrival DESC
//! ON CONFLICT (key) DO UPDATE` — the last row of each key wins; the next 16 epochs of the lane
//! then take that path directly. Then `COMMIT`: the rows are visible at once; a replay after
//! a crash writes the same rows again under the same keys, so the table ends with one row per
//! key. `commit` and `abort` do nothing.
//!
//! ## `mode: transactional` — exactly-once
//!
//! ```text
//! weir_epochs (pipeline, sink, lane, epoch, next_offset, committed_at)   PRIMARY KEY (pipeline, sink, lane, epoch)
//!     one row per committed epoch of each lane, in the target table's schema; the newest is
//!     the lane's position in the database; rows more than 100 epochs old are pruned.
//! prepared transaction  weir_<64-bit tag of pipeline, sink, table, lane>_<epoch>
//!     an epoch precommitted and not yet committed (needs max_prepared_transactions > 0).
//! ```
//!
//! - `precommit(e)`: `BEGIN; COPY t FROM STDIN; INSERT INTO weir_epochs (.., e, next_offset);
//!   PREPARE TRANSACTION 'weir_<tag>_<e>'` — durable, invisible. A retry first looks for the
//!   prepared transaction (the previous attempt may have prepared it before its answer was
//!   lost) and is done if it is there.
//! - `commit(e)` (after the checkpoint, the commit point): `COMMIT PREPARED`. Idempotent: when
//!   the transaction is no longer prepared, the bookkeeping row of `e` proves it committed.
//! - `abort(e)`: `ROLLBACK PREPARED` when it exists.
//! - recovery to the checkpoint's epoch `c`: prepared transactions of the lane with epoch `<= c`
//!   are committed (the crash came between checkpoint and commit), newer ones rolled back.
//!   Before that, the lane's position is read back from `weir_epochs`: when the database holds
//!   a newer committed epoch than the local checkpoint (the checkpoint directory was lost or an
//!   older manifest had to be used), the lane resumes from the database's offset instead, so the
//!   table never receives an epoch twice, with or without the local checkpoint.
//!
//! A row that the database refuses (a type or constraint violation) is a permanent failure of
//! the epoch: the lane stops and is restarted under its restart strategy; the message names the
//! COPY line and column.

pub mod config;
pub mod error;
mod sink;
pub mod sql;
mod stream;

use std::str::FromStr;
use std::sync::Arc;

use crate::config::Guarantee;
use crate::dependency::Dependency;
use crate::epoch::LaneId;
use config::{PgMode, PgSinkPlan};

use super::{Sink, SinkFactory};

/// What every lane's writer shares.
pub(crate) struct Shared {
    plan: PgSinkPlan,
    dep: Arc<Dependency>,
    pipeline: Arc<str>,
    table: String,
    epochs: String,
    connect: tokio_postgres::Config,
}

/// Builds per-lane PostgreSQL writers.
pub struct PgSinkFactory {
    shared: Arc<Shared>,
}

impl PgSinkFactory {
    /// The sink of `plan` in `pipeline`, calling through `dep`.
    ///
    /// # Errors
    /// When the connection string does not parse (validation has normally caught this).
    pub fn new(pipeline: &str, plan: PgSinkPlan, dep: Arc<Dependency>) -> anyhow::Result<Self> {
        let mut connect = tokio_postgres::Config::from_str(&plan.url.0)
            .map_err(|e| anyhow::anyhow!("postgres sink `{}`: url: {e}", plan.name))?;
        if connect.get_connect_timeout().is_none() {
            connect.connect_timeout(dep.timeout());
        }
        if connect.get_application_name().is_none() {
            connect.application_name("weir");
        }
        Ok(Self {
            shared: Arc::new(Shared {
                table: sql::qualified(&plan.table),
                epochs: sql::epochs_table(&plan.table),
                plan,
                dep,
                pipeline: pipeline.into(),
                connect,
            }),
        })
    }
}

impl SinkFactory for PgSinkFactory {
    fn name(&self) -> &str {
        &self.shared.plan.name
    }

    fn guarantee(&self) -> Guarantee {
        match self.shared.plan.mode {
            PgMode::Upsert => Guarantee::EffectivelyOnce,
            PgMode::Transactional => Guarantee::ExactlyOnce,
        }
    }

    fn for_lane(&self, lane: &LaneId) -> Box<dyn Sink> {
        Box::new(sink::PgSink::new(Arc::clone(&self.shared), lane.clone()))
    }
}
