//! One lane's PostgreSQL writer (see the module doc of [`super`] for the protocol).

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::SinkExt;
use tokio_postgres::{Client, NoTls};

use super::config::PgMode;
use super::error::PgError;
use super::stream::{STREAM_AFTER, Stream, timed};
use super::{Shared, sql};
use crate::dependency::{GiveUp, Interrupted, OnOpen};
use crate::epoch::{Epoch, LaneId};
use crate::error::Classified;
use crate::policy::breaker::BreakerState;
use crate::record::Record;
use crate::sinks::{Refusal, Sink, SinkError};

mod epochs;
mod isolate;
mod rows;
mod streamed;
mod upsert;

use rows::Rows;

type Step<'a, T> = Pin<Box<dyn Future<Output = Result<T, PgError>> + Send + 'a>>;

struct Conn {
    client: Client,
    /// The upsert staging table exists in this session.
    staged: bool,
}

pub(super) struct PgSink {
    shared: Arc<Shared>,
    lane: LaneId,
    tag: String,
    conn: Option<Conn>,
    columns: Vec<String>,
    rows: Rows,
    next_offset: Option<(Epoch, u64)>,
    /// A precommit attempt of this epoch was made: the next one looks for its prepared
    /// transaction first.
    tried: Option<Epoch>,
    /// Upsert: epochs left to write through the staging table before trying a plain COPY
    /// again (set after a plain COPY met an existing key).
    slow_epochs: u32,
    /// The open epoch's rows being streamed to the server (see [`super::stream`]).
    stream: Option<Stream>,
    /// An epoch whose stream could not start: it is not tried again.
    no_stream: Option<Epoch>,
    warned: HashSet<String>,
}

fn interrupted(i: Interrupted) -> SinkError {
    match i {
        Interrupted::Stopped => SinkError::Stopped,
        // Sinks always wait for their breaker.
        Interrupted::Open => SinkError::Remote {
            class: crate::error::ErrorClass::Transient,
            code: "breaker_open",
            message: "circuit breaker open".into(),
        },
    }
}

/// Whether a DDL error only says that a concurrent session created the object first.
fn already_exists(e: &PgError) -> bool {
    matches!(e.sqlstate(), Some("42P07" | "23505" | "42710"))
}

impl PgSink {
    pub(super) fn new(shared: Arc<Shared>, lane: LaneId) -> Self {
        let tag = sql::lane_tag(
            &shared.pipeline,
            &shared.plan.name,
            &shared.table,
            lane.as_str(),
        );
        Self {
            shared,
            lane,
            tag,
            conn: None,
            columns: Vec::new(),
            rows: Rows::default(),
            next_offset: None,
            tried: None,
            slow_epochs: 0,
            stream: None,
            no_stream: None,
            warned: HashSet::new(),
        }
    }

    fn timeout(&self) -> Duration {
        self.shared.dep.timeout()
    }

    fn gid(&self, epoch: Epoch) -> String {
        format!("{}{}", self.tag, epoch.0)
    }

    fn transactional(&self) -> bool {
        self.shared.plan.mode == PgMode::Transactional
    }

    /// Runs `op` under the dependency's policy stack; a broken connection is dropped after a
    /// failed attempt so the next one reconnects.
    async fn with_policy<T: Send>(
        &mut self,
        op: impl for<'a> Fn(&'a mut PgSink) -> Step<'a, T> + Send + Sync,
    ) -> Result<T, SinkError> {
        let shared = Arc::clone(&self.shared);
        let mut call = shared
            .dep
            .begin(&shared.plan.name, OnOpen::Wait)
            .await
            .map_err(interrupted)?;
        loop {
            let attempt = call.attempt().await.map_err(interrupted)?;
            match op(self).await {
                Ok(v) => {
                    call.succeeded(attempt);
                    return Ok(v);
                }
                Err(e) => {
                    if e.breaks_connection() {
                        self.conn = None;
                    }
                    // Failed probes of an outage are expected: logged at debug level.
                    if shared.dep.state() == BreakerState::Closed {
                        tracing::warn!(pipeline = %shared.pipeline, sink = %shared.plan.name, lane = %self.lane,
                            attempt = call.attempts(), class = %e.class(), code = e.code(), "postgres: {e}");
                    } else {
                        tracing::debug!(pipeline = %shared.pipeline, sink = %shared.plan.name, lane = %self.lane,
                            attempt = call.attempts(), class = %e.class(), code = e.code(), "postgres: {e}");
                    }
                    match call.failed(attempt, e.class()).await {
                        Ok(()) => {}
                        Err(GiveUp::Interrupted(i)) => return Err(interrupted(i)),
                        Err(GiveUp::Exhausted | GiveUp::NotRetryable) => return Err(e.into()),
                    }
                }
            }
        }
    }

    async fn client(&mut self) -> Result<&Client, PgError> {
        if self.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            self.conn = None;
        }
        if self.conn.is_none() {
            let t = self.timeout();
            let (client, connection) = timed(t, self.shared.connect.connect(NoTls)).await?;
            let lane = self.lane.clone();
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(lane = %lane, "postgres connection ended: {e}");
                }
            });
            self.conn = Some(Conn {
                client,
                staged: false,
            });
        }
        match &self.conn {
            Some(c) => Ok(&c.client),
            None => unreachable!("connected above"),
        }
    }

    async fn exec(&mut self, statement: &str) -> Result<(), PgError> {
        let t = self.timeout();
        let client = self.client().await?;
        timed(t, client.batch_execute(statement)).await
    }

    /// Runs DDL that may race with another lane creating the same object.
    async fn ddl(&mut self, statement: &str) -> Result<(), PgError> {
        match self.exec(statement).await {
            Err(e) if already_exists(&e) => Ok(()),
            r => r,
        }
    }

    async fn try_prepare_schema(&mut self) -> Result<(), PgError> {
        let plan = &self.shared.plan;
        if let Some(cols) = &plan.create_table {
            let stmt = sql::create_table(&self.shared.table, cols, &plan.key);
            self.ddl(&stmt).await?;
        }
        if self.transactional() {
            let stmt = sql::create_epochs(&self.shared.epochs);
            self.ddl(&stmt).await?;
        }
        let t = self.timeout();
        let table = self.shared.table.clone();
        let client = self.client().await?;
        let rows = timed(t, client.query(sql::COLUMNS, &[&table])).await?;
        let columns: Vec<String> = rows.iter().map(|r| r.get::<_, String>(0)).collect();
        if columns.is_empty() {
            return Err(PgError::Schema(format!(
                "table {table} has no writable columns"
            )));
        }
        for k in &self.shared.plan.key {
            if !columns.contains(k) {
                return Err(PgError::Schema(format!(
                    "key column `{k}` is not a column of table {table} (columns: {})",
                    columns.join(", ")
                )));
            }
        }
        self.columns = columns;
        Ok(())
    }

    fn keys(&self) -> (String, String, String) {
        (
            self.shared.pipeline.to_string(),
            self.shared.plan.name.clone(),
            self.lane.to_string(),
        )
    }

    async fn try_precommit(&mut self, epoch: Epoch) -> Result<(), PgError> {
        if self.transactional() && self.tried == Some(epoch) {
            let gid = self.gid(epoch);
            if self.prepared().await?.iter().any(|(_, g)| *g == gid) {
                return Ok(());
            }
        }
        self.tried = Some(epoch);
        let result = self.try_write_epoch(epoch).await;
        if result.is_err()
            && let Some(c) = &self.conn
            && !c.client.is_closed()
        {
            // Leave the session clean for the next attempt; a failure here breaks it.
            let t = self.timeout();
            if timed(t, c.client.batch_execute("ROLLBACK")).await.is_err() {
                self.conn = None;
            }
        }
        result
    }

    async fn try_write_epoch(&mut self, epoch: Epoch) -> Result<(), PgError> {
        let upsert = !self.transactional();
        if upsert && self.rows.is_empty() {
            return Ok(());
        }
        let written = async {
            let pieces = self.rows.pieces();
            let copy = sql::copy_in(&self.shared.table, &self.columns);
            self.client().await?;
            self.exec("BEGIN").await?;
            if upsert {
                return self.try_upsert(&copy, &pieces).await;
            }
            self.copy(&copy, &pieces).await?;
            self.prepare_epoch(epoch).await
        }
        .await;
        match written {
            Err(e) if isolate::is_data_error(&e) => {
                self.exec("ROLLBACK").await?;
                let refused = self.isolate().await?;
                if refused.is_empty() {
                    Err(e)
                } else {
                    Err(PgError::Refused(refused))
                }
            }
            r => r,
        }
    }

    /// Streams `pieces` through `COPY ... FROM STDIN`, each piece under the timeout.
    async fn copy(&mut self, statement: &str, pieces: &[Bytes]) -> Result<(), PgError> {
        if pieces.is_empty() {
            return Ok(());
        }
        let t = self.timeout();
        let client = self.client().await?;
        let sink = timed(t, client.copy_in::<_, Bytes>(statement)).await?;
        futures_util::pin_mut!(sink);
        for piece in pieces {
            timed(t, sink.send(piece.clone())).await?;
        }
        timed(t, sink.as_mut().finish()).await?;
        Ok(())
    }

    /// Encodes the records as rows of the open epoch; a record that cannot be a row (not a
    /// JSON object) is refused.
    fn encode(&mut self, records: &[Record]) -> Vec<Refusal> {
        let mut refused = Vec::new();
        for r in records {
            let Some(obj) = r.value.as_object() else {
                refused.push(Refusal {
                    id: r.meta.id.clone(),
                    code: "pg_record",
                    message: format!(
                        "{} is not a row: a row needs a JSON object's fields",
                        json_type(&r.value)
                    ),
                });
                continue;
            };
            if obj.len() > self.columns.len() || self.warned.len() < 16 {
                for k in obj.keys() {
                    if !self.columns.contains(k) && self.warned.insert(k.clone()) {
                        tracing::warn!(pipeline = %self.shared.pipeline, sink = %self.shared.plan.name,
                            "field `{k}` has no column in table {}; it is not written", self.shared.table);
                    }
                }
            }
            sql::encode_row(&mut self.rows.buf, obj, &self.columns);
            self.rows.row_written(&r.meta.id);
        }
        refused
    }
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[async_trait]
impl Sink for PgSink {
    async fn recover(&mut self, committed: Epoch) -> Result<(), SinkError> {
        self.rows.clear();
        self.tried = None;
        if let Some(stream) = self.stream.take() {
            stream.abandon();
            self.conn = None;
        }
        self.with_policy(move |s| Box::pin(s.try_recover(committed)))
            .await
    }

    async fn committed_position(&mut self) -> Result<Option<(Epoch, u64)>, SinkError> {
        if !self.transactional() {
            return Ok(None);
        }
        self.with_policy(|s| Box::pin(s.try_position())).await
    }

    async fn write(&mut self, epoch: Epoch, records: &[Record]) -> Result<(), SinkError> {
        if self.rows.epoch != Some(epoch) {
            self.rows.clear();
            self.rows.epoch = Some(epoch);
        }
        if let Some(stream) = self.stream.take_if(|s| s.epoch != epoch) {
            stream.abandon();
            self.conn = None;
        }
        if self.columns.is_empty() {
            return Err(PgError::Protocol("write before recovery".into()).into());
        }
        let refused = self.encode(records);
        if !refused.is_empty() {
            return Err(SinkError::Refused(refused));
        }
        if self.stream.is_none()
            && self.rows.buf.len() >= STREAM_AFTER
            && self.may_stream(epoch)
            && let Err(e) = self.start_stream(epoch).await
        {
            tracing::debug!(lane = %self.lane, "postgres: cannot stream epoch {epoch} ({e}); it is written at precommit");
            self.no_stream = Some(epoch);
            self.conn = None;
        }
        if let Some(stream) = self.stream.as_mut() {
            stream.feed(&self.rows.buf, STREAM_AFTER).await;
        }
        Ok(())
    }

    fn epoch_ends_at(&mut self, epoch: Epoch, next_offset: u64) {
        self.next_offset = Some((epoch, next_offset));
    }

    async fn precommit(&mut self, epoch: Epoch) -> Result<(), SinkError> {
        if self.rows.epoch != Some(epoch) {
            self.rows.clear();
            self.rows.epoch = Some(epoch);
        }
        match self.stream.take() {
            Some(stream) if stream.epoch == epoch => {
                match self.finish_stream(stream, epoch).await {
                    Ok(()) => {
                        self.rows.clear();
                        self.tried = None;
                        return Ok(());
                    }
                    Err(e) => {
                        tracing::debug!(lane = %self.lane, "postgres: streaming epoch {epoch} failed ({e}); writing it again");
                        self.conn = None;
                    }
                }
            }
            Some(stream) => {
                stream.abandon();
                self.conn = None;
            }
            None => {}
        }
        self.with_policy(move |s| Box::pin(s.try_precommit(epoch)))
            .await?;
        self.rows.clear();
        self.tried = None;
        Ok(())
    }

    async fn commit(&mut self, epoch: Epoch) -> Result<(), SinkError> {
        if !self.transactional() {
            return Ok(());
        }
        self.with_policy(move |s| Box::pin(s.try_commit(epoch)))
            .await
    }

    async fn abort(&mut self, epoch: Epoch) -> Result<(), SinkError> {
        self.rows.clear();
        self.tried = None;
        if let Some(stream) = self.stream.take() {
            stream.abandon();
            self.conn = None;
        }
        if !self.transactional() || self.conn.is_none() {
            return Ok(());
        }
        let gid = self.gid(epoch);
        let r = async {
            let _ = self.exec("ROLLBACK").await;
            if self.prepared().await?.iter().any(|(_, g)| *g == gid) {
                self.exec(&format!("ROLLBACK PREPARED {}", sql::literal(&gid)))
                    .await?;
            }
            Ok::<(), PgError>(())
        }
        .await;
        r.map_err(SinkError::from)
    }
}
