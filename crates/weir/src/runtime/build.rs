//! Turns a validated pipeline plan into running parts: the source, the compiled transforms,
//! the sink factories and the checkpoint store.

use std::path::PathBuf;
use std::sync::Arc;

use crate::quality::audit::Audit;
use crate::quality::coerce::RecordSchema;
use crate::transforms::validate::ValidateTransform;

use crate::buffer::Buffer;
use crate::checkpoint::CheckpointStore;
use crate::config::DependencyPlan;
use crate::config::{CheckpointPlan, PipelinePlan, SinkPlan, SourcePlan, TransformPlan};
use crate::dependency::Dependency;
use crate::dlq::DlqStore;
use crate::dlq::redact::Redactor;
use crate::sinks::SinkFactory;
use crate::sinks::file::FileSinkFactory;
use crate::sinks::http::HttpSinkFactory;
use crate::sinks::log::LogSinkFactory;
use crate::sinks::postgres::PgSinkFactory;
use crate::sinks::stdout::StdoutSinkFactory;
use crate::sources::Source;
use crate::sources::file::FileSource;
use crate::sources::log::LogSource;
use crate::transforms::Transform;
use crate::transforms::enrich_http::EnrichHttp;
use crate::transforms::jq::JqTransform;

/// A pipeline ready to run.
pub struct Pipeline {
    /// Name.
    pub name: Arc<str>,
    /// Where records come from.
    pub source: Arc<dyn Source>,
    /// Applied in order.
    pub transforms: Arc<[Arc<dyn Transform>]>,
    /// Where records go.
    pub sinks: Arc<[Arc<dyn SinkFactory>]>,
    /// Where checkpoints go.
    pub store: Arc<dyn CheckpointStore>,
    /// Epoch settings.
    pub checkpoint: CheckpointPlan,
    /// Lanes at once.
    pub parallelism: usize,
    /// How failed lanes are restarted.
    pub restart: crate::policy::restart::RestartStrategy,
    /// Where failed records go (`None`: logged, counted and dropped).
    pub dlq: Option<Arc<DlqStore>>,
    /// Dead-letter settings.
    pub dlq_plan: crate::config::DlqPlan,
    /// Masks PII fields in logs and dead letters.
    pub redactor: Arc<Redactor>,
    /// Crashes on one record before it is quarantined.
    pub quarantine_after: u32,
    /// Declared source fields, coerced on read.
    pub schema: Option<Arc<RecordSchema>>,
    /// Epoch audits.
    pub audits: Vec<Audit>,
    /// The failure-ratio gate: (max ratio, window).
    pub gate: Option<(f64, usize)>,
    /// Where operators' audit overrides are found.
    pub overrides: PathBuf,
    /// Threads a lane transforms a batch on (cores shared by the lanes running at once).
    pub transform_threads: std::sync::atomic::AtomicUsize,
    /// The external systems its sinks and transforms call (one each, shared by all lanes).
    pub dependencies: Vec<Arc<Dependency>>,
}

/// One [`Dependency`] per name within a pipeline, so every stage naming it shares its
/// bulkhead and breaker.
struct Dependencies {
    pipeline: String,
    made: Vec<Arc<Dependency>>,
}

impl Dependencies {
    fn get(&mut self, plan: &DependencyPlan) -> Arc<Dependency> {
        if let Some(d) = self.made.iter().find(|d| d.name() == plan.name) {
            return Arc::clone(d);
        }
        let d = Arc::new(Dependency::new(&self.pipeline, plan.clone()));
        self.made.push(Arc::clone(&d));
        d
    }
}

/// The fields a file source may read of each record: those the first transform reads, when
/// it reads a fixed set and nothing needs the whole record first (a `schema:` coerces every
/// field). Fault injection looks at its fields too.
fn projection(
    transforms: &[Arc<dyn Transform>],
    schema: bool,
) -> Option<crate::sources::projection::Projection> {
    if schema {
        return None;
    }
    #[allow(unused_mut)]
    let mut fields = transforms.first()?.input_fields()?;
    #[cfg(feature = "fault-injection")]
    fields.extend(crate::fault::fields());
    Some(crate::sources::projection::Projection::new(fields))
}

/// Builds `plan`; `buffer` is the open embedded log, needed by `http` and `log` sources and
/// `log` sinks.
///
/// # Errors
/// When a transform does not compile (validation has normally caught this already), or the
/// pipeline needs the embedded log and `buffer` is `None`.
pub fn build(
    plan: &PipelinePlan,
    store: Arc<dyn CheckpointStore>,
    dlq: Option<Arc<DlqStore>>,
    overrides: PathBuf,
    buffer: Option<&Arc<Buffer>>,
) -> anyhow::Result<Pipeline> {
    let need_buffer = || {
        buffer.cloned().ok_or_else(|| {
            anyhow::anyhow!(
                "pipeline `{}` needs the embedded log, which is not open",
                plan.name
            )
        })
    };
    let mut deps = Dependencies {
        pipeline: plan.name.clone(),
        made: Vec::new(),
    };
    let mut transforms: Vec<Arc<dyn Transform>> = Vec::new();
    for t in &plan.transforms {
        match t {
            TransformPlan::Jq { name, filter } => {
                transforms.push(Arc::new(JqTransform::compile(name.as_str(), filter)?))
            }
            TransformPlan::Validate {
                name,
                rules,
                schema,
                on_failure,
            } => transforms.push(Arc::new(
                ValidateTransform::new(
                    name,
                    rules.clone(),
                    schema.as_ref().map(|(_, doc)| doc),
                    *on_failure,
                )
                .map_err(anyhow::Error::msg)?,
            )),
            TransformPlan::EnrichHttp(p) => {
                let dep = deps.get(&p.dependency);
                transforms.push(Arc::new(EnrichHttp::new(&plan.name, (**p).clone(), dep)));
            }
        }
    }
    let source: Arc<dyn Source> = match &plan.source {
        SourcePlan::File {
            pattern,
            format,
            schema,
            ..
        } => Arc::new(
            FileSource::new(
                plan.name.as_str(),
                pattern.clone(),
                *format,
                plan.batch_size,
            )
            .with_projection(projection(&transforms, schema.is_some())),
        ),
        SourcePlan::Http(_) => Arc::new(LogSource::new(
            plan.name.as_str().into(),
            need_buffer()?,
            plan.name.clone(),
            plan.batch_size,
        )),
        SourcePlan::Log { topic } => Arc::new(LogSource::new(
            plan.name.as_str().into(),
            need_buffer()?,
            topic.clone(),
            plan.batch_size,
        )),
    };
    let mut sinks: Vec<Arc<dyn SinkFactory>> = Vec::new();
    for s in &plan.sinks {
        sinks.push(match s {
            SinkPlan::File { name, dir, .. } => {
                Arc::new(FileSinkFactory::new(name.clone(), dir.clone()))
            }
            SinkPlan::Stdout { name } => Arc::new(StdoutSinkFactory::new(name.clone())),
            SinkPlan::Log(l) => Arc::new(LogSinkFactory::new(
                l.clone(),
                plan.name.as_str().into(),
                need_buffer()?,
            )?),
            SinkPlan::Postgres(p) => {
                let dep = deps.get(&p.dependency);
                Arc::new(PgSinkFactory::new(&plan.name, p.clone(), dep)?)
            }
            SinkPlan::Http(p) => {
                let dep = deps.get(&p.dependency);
                Arc::new(HttpSinkFactory::new(&plan.name, p.clone(), dep))
            }
        });
    }
    Ok(Pipeline {
        name: plan.name.as_str().into(),
        source,
        transforms: transforms.into(),
        sinks: sinks.into(),
        store,
        checkpoint: plan.checkpoint,
        parallelism: plan.parallelism,
        restart: plan.restart,
        dlq: if plan.dlq.enabled { dlq } else { None },
        dlq_plan: plan.dlq,
        redactor: Arc::new(Redactor::new(&plan.redact)),
        quarantine_after: plan.quarantine_after_crashes,
        schema: match &plan.source {
            SourcePlan::File { schema, .. } => schema.clone().map(Arc::new),
            SourcePlan::Http(_) | SourcePlan::Log { .. } => None,
        },
        audits: plan.audits.clone(),
        gate: plan.gate,
        overrides,
        transform_threads: std::sync::atomic::AtomicUsize::new(1),
        dependencies: deps.made,
    })
}
