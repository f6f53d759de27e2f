//! Pure validation: raw configuration in, plan or every problem (with its position) out.
//! The only I/O is expanding the source's glob pattern, so a pattern that matches nothing is
//! reported before anything runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_saphyr::Spanned;

use super::diagnostic::{Diagnostic, Pos, locate_key_before, locate_value};
use super::model::{RawCheckpoint, RawConfig, RawPipeline, RawSink, RawSource, RawTransform};
use super::plan::{
    CheckpointPlan, DEFAULT_LISTEN, PipelinePlan, Plan, SinkPlan, SourcePlan, TransformPlan,
};
use crate::transforms::jq::JqTransform;

/// Default records per source batch.
pub const DEFAULT_BATCH_SIZE: usize = 4096;
/// Default epoch length.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

pub(super) struct Ctx<'a> {
    pub(super) source: &'a str,
    pub(super) base_dir: &'a Path,
    problems: Vec<Diagnostic>,
    /// The validated `dependencies:`, for components that name one.
    pub(super) dependencies: BTreeMap<String, super::dependencies::DependencyPlan>,
}

impl Ctx<'_> {
    pub(super) fn problems_len(&self) -> usize {
        self.problems.len()
    }

    pub(super) fn err(&mut self, pos: Pos, message: impl Into<String>) {
        self.problems.push(Diagnostic::new(pos, message));
    }

    pub(super) fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        let joined = if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        };
        joined
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect()
    }
}

pub(super) fn pos<T>(s: &Spanned<T>) -> Pos {
    Pos::from_location(s.referenced)
}

/// Checks `raw` and turns it into a [`Plan`]. Relative paths are resolved against `base_dir`
/// (the directory of the configuration file).
///
/// # Errors
/// Every problem found, in file order.
pub fn validate(
    raw: RawConfig,
    source: &str,
    config_path: &Path,
    base_dir: &Path,
) -> Result<Plan, Vec<Diagnostic>> {
    let mut cx = Ctx {
        source,
        base_dir,
        problems: Vec::new(),
        dependencies: BTreeMap::new(),
    };
    cx.dependencies = super::dependencies::dependencies(&mut cx, &raw.dependencies);
    let data_dir = match &raw.data_dir {
        Some(d) if d.value.trim().is_empty() => {
            cx.err(pos(d), "`data_dir` is empty: expected a directory path");
            PathBuf::new()
        }
        Some(d) => cx.resolve(&d.value),
        None => cx.resolve("weir-data"),
    };
    let listen = match &raw.server.listen {
        Some(l) => l.value.parse().unwrap_or_else(|_| {
            cx.err(
                pos(l),
                format!(
                    "`{}` is not a listen address: expected host:port, e.g. {DEFAULT_LISTEN}",
                    l.value
                ),
            );
            DEFAULT_LISTEN
                .parse()
                .unwrap_or_else(|_| unreachable!("default address parses"))
        }),
        None => DEFAULT_LISTEN
            .parse()
            .unwrap_or_else(|_| unreachable!("default address parses")),
    };
    let log = super::log::log_section(&mut cx, &raw.log);
    let durable = log.fsync == weir_log::Fsync::Always;
    if raw.pipelines.value.is_empty() {
        cx.err(
            pos(&raw.pipelines),
            "`pipelines` is empty: expected at least one pipeline",
        );
    }
    let mut pipelines = Vec::new();
    for (name, p) in &raw.pipelines.value {
        if let Some(plan) = pipeline(&mut cx, name, p, durable) {
            pipelines.push(plan);
        }
    }
    check_sink_dirs_unique(&mut cx, &raw.pipelines.value, &pipelines);
    super::log::check_topics(&mut cx, &raw.pipelines.value, &pipelines);
    if cx.problems.is_empty() {
        Ok(Plan {
            config_path: config_path.to_path_buf(),
            data_dir,
            listen,
            pipelines,
            log,
        })
    } else {
        let mut problems = cx.problems;
        problems.sort_by_key(|d| (d.pos.line, d.pos.column));
        Err(problems)
    }
}

fn pipeline(
    cx: &mut Ctx<'_>,
    name: &str,
    p: &Spanned<RawPipeline>,
    durable: bool,
) -> Option<PipelinePlan> {
    let before = cx.problems.len();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        cx.err(
            locate_key_before(cx.source, pos(p), name),
            format!("pipeline name `{name}` is not allowed: expected letters, digits, `_` and `-`"),
        );
    }
    let source = source(cx, &p.value.source);
    let transforms = p
        .value
        .transforms
        .iter()
        .enumerate()
        .filter_map(|(i, t)| transform(cx, i, t))
        .collect();
    if p.value.sinks.value.is_empty() {
        cx.err(
            pos(&p.value.sinks),
            "`sinks` is empty: expected at least one sink",
        );
    }
    let sinks = sinks(cx, &p.value.sinks.value, durable);
    let checkpoint = checkpoint(cx, &p.value.checkpoint);
    super::log::check_unbounded(cx, pos(&p.value.source), source.as_ref(), &checkpoint);
    let parallelism = match &p.value.parallelism {
        Some(n) if n.value == 0 => {
            cx.err(pos(n), "`parallelism` must be at least 1");
            1
        }
        Some(n) => n.value,
        None => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
    };
    let batch_size = match &p.value.batch_size {
        Some(n) if n.value == 0 => {
            cx.err(pos(n), "`batch_size` must be at least 1");
            1
        }
        Some(n) => n.value,
        None => DEFAULT_BATCH_SIZE,
    };
    let restart = super::failure::restart(cx, p.value.restart.as_ref());
    let dlq = super::failure::dlq(cx, &p.value.dlq);
    let redact = super::failure::redact(cx, &p.value.redact);
    let audits = super::quality::audits(cx, &p.value.audits);
    let gate = super::quality::gate(cx, p.value.quality.as_ref());
    let quarantine_after_crashes =
        super::failure::quarantine(cx, p.value.quarantine_after_crashes.as_ref());
    let source = source?;
    (cx.problems.len() == before).then(|| PipelinePlan {
        name: name.to_owned(),
        source,
        transforms,
        sinks,
        checkpoint,
        parallelism,
        batch_size,
        restart,
        dlq,
        redact,
        quarantine_after_crashes,
        audits,
        gate,
    })
}

fn source(cx: &mut Ctx<'_>, s: &Spanned<RawSource>) -> Option<SourcePlan> {
    match &s.value {
        RawSource::Http(h) => Some(SourcePlan::Http(super::log::http_source(cx, pos(s), h))),
        RawSource::Log { topic } => {
            let at = locate_value(cx.source, pos(s), "topic");
            super::log::topic_name(cx, at, topic);
            Some(SourcePlan::Log {
                topic: topic.clone(),
            })
        }
        RawSource::File {
            path,
            format,
            schema,
        } => {
            let schema = super::quality::source_schema(cx, pos(s), schema);
            let at = locate_value(cx.source, pos(s), "path");
            if path.trim().is_empty() {
                cx.err(
                    at,
                    "source `path` is empty: expected a file or glob pattern",
                );
                return None;
            }
            let pattern = cx.resolve(path).to_string_lossy().into_owned();
            match glob::glob(&pattern) {
                Err(e) => {
                    cx.err(
                        at,
                        format!("source `path` `{path}` is not a valid pattern: {}", e.msg),
                    );
                    None
                }
                Ok(paths) => {
                    let any = paths.filter_map(Result::ok).any(|p| p.is_file());
                    if !any {
                        cx.err(
                            at,
                            format!(
                                "source `path` `{path}` matches no files (looked in {})",
                                cx.base_dir.display()
                            ),
                        );
                    }
                    Some(SourcePlan::File {
                        pattern,
                        format: *format,
                        schema,
                    })
                }
            }
        }
    }
}

fn transform(cx: &mut Ctx<'_>, index: usize, t: &Spanned<RawTransform>) -> Option<TransformPlan> {
    match &t.value {
        RawTransform::Jq { filter } => {
            let name = format!("jq_{index}");
            match JqTransform::compile(name.clone(), filter) {
                Ok(_) => Some(TransformPlan::Jq {
                    name,
                    filter: filter.clone(),
                }),
                Err(e) => {
                    let mut at = locate_value(cx.source, pos(t), "filter");
                    // Point inside the program when it is written on one line and unquoted or
                    // single/double-quoted without escapes (the common case).
                    if let (Some(off), true) = (e.offset, !filter.contains('\n')) {
                        let line = cx.source.lines().nth(at.line as usize - 1).unwrap_or("");
                        let col0 = at.column as usize - 1;
                        let quoted = matches!(line.as_bytes().get(col0), Some(b'\'' | b'"'));
                        let start = col0 + usize::from(quoted);
                        if line.get(start..start + filter.len()) == Some(filter.as_str()) {
                            at.column = (start + filter[..off].chars().count() + 1) as u32;
                        }
                    }
                    cx.err(at, format!("transforms[{index}]: {}", e.message));
                    None
                }
            }
        }
        RawTransform::Validate {
            rules,
            schema,
            on_failure,
        } => super::quality::validate_transform(
            cx,
            index,
            pos(t),
            rules,
            schema.as_deref(),
            *on_failure,
        ),
        RawTransform::EnrichHttp(raw) => super::enrich::transform(cx, index, pos(t), raw),
    }
}

fn sinks(cx: &mut Ctx<'_>, raw: &[Spanned<RawSink>], durable: bool) -> Vec<SinkPlan> {
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for s in raw {
        *counts.entry(sink_type(&s.value)).or_default() += 1;
    }
    let mut out = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        let ty = sink_type(&s.value);
        let name = if counts[ty] > 1 {
            format!("{ty}_{i}")
        } else {
            ty.to_owned()
        };
        match &s.value {
            RawSink::File { path, format } => {
                if path.trim().is_empty() {
                    cx.err(
                        locate_value(cx.source, pos(s), "path"),
                        "sink `path` is empty: expected an output directory",
                    );
                    continue;
                }
                out.push(SinkPlan::File {
                    name,
                    dir: cx.resolve(path),
                    format: *format,
                });
            }
            RawSink::Stdout {} => out.push(SinkPlan::Stdout { name }),
            RawSink::Log(l) => out.push(SinkPlan::Log(super::log::log_sink(
                cx,
                pos(s),
                name,
                l,
                durable,
            ))),
            RawSink::Postgres(raw) => {
                if let Some(p) = super::sinks_pg::sink(cx, name, pos(s), raw) {
                    out.push(SinkPlan::Postgres(p));
                }
            }
            RawSink::Http(raw) => {
                if let Some(p) = super::sinks_http::sink(cx, name, pos(s), raw) {
                    out.push(SinkPlan::Http(p));
                }
            }
        }
    }
    out
}

fn sink_type(s: &RawSink) -> &'static str {
    match s {
        RawSink::File { .. } => "file",
        RawSink::Stdout {} => "stdout",
        RawSink::Log(_) => "log",
        RawSink::Postgres(_) => "postgres",
        RawSink::Http(_) => "http",
    }
}

fn checkpoint(cx: &mut Ctx<'_>, c: &RawCheckpoint) -> CheckpointPlan {
    let interval = match &c.interval {
        None => DEFAULT_INTERVAL,
        Some(text) => match humantime::parse_duration(text.value.trim()) {
            Ok(d) if d.is_zero() => {
                cx.err(pos(text), "`checkpoint.interval` must be greater than zero (set `enabled: false` to turn checkpointing off)");
                DEFAULT_INTERVAL
            }
            Ok(d) => d,
            Err(e) => {
                cx.err(
                    pos(text),
                    format!(
                        "`{}` is not a duration ({e}): expected e.g. \"250ms\", \"1s\", \"5m\"",
                        text.value
                    ),
                );
                DEFAULT_INTERVAL
            }
        },
    };
    if let Some(m) = &c.max_records
        && m.value == 0
    {
        cx.err(pos(m), "`checkpoint.max_records` must be at least 1");
    }
    CheckpointPlan {
        enabled: c.enabled.unwrap_or(true),
        interval,
        max_records: c.max_records.as_ref().map(|m| m.value),
    }
}

fn check_sink_dirs_unique(
    cx: &mut Ctx<'_>,
    raw: &BTreeMap<String, Spanned<RawPipeline>>,
    plans: &[PipelinePlan],
) {
    let mut seen: BTreeMap<PathBuf, String> = BTreeMap::new();
    for plan in plans {
        // A pipeline has a plan only when every sink was valid, so plan and raw sinks align.
        let raw_sinks = raw.get(&plan.name).map(|p| &p.value.sinks);
        for (i, sink) in plan.sinks.iter().enumerate() {
            if let SinkPlan::File { dir, .. } = sink
                && let Some(other) = seen.insert(dir.clone(), plan.name.clone())
            {
                let at = raw_sinks.map_or(Pos::START, |s| match s.value.get(i) {
                    Some(sink) => locate_value(cx.source, pos(sink), "path"),
                    None => pos(s),
                });
                let by = if other == plan.name {
                    "another sink of this pipeline".to_owned()
                } else {
                    format!("pipeline `{other}`")
                };
                cx.err(at, format!("file sink directory {} is already written by {by}: each file sink needs its own directory", dir.display()));
            }
        }
    }
}
