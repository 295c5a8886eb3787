//! A log pipeline compiled for execution: each line goes through the
//! stages in order, with its stream labels, structured metadata and any
//! extracted labels, and comes out (possibly reformatted) or is dropped.
//! Parse failures set Loki's `__error__` and `__error_details__` labels.

use std::collections::BTreeMap;

use common::labels::{Label, Labels};
use common::logs::LogEntry;
use regex::Regex;

use super::ast::{Extraction, LabelFilter, LabelFmt, LabelSel, LogExpr, Stage, ValueKind};
use super::json;
use super::lexer::{parse_bytes, parse_go_duration};
use super::line_filter::LineMatcher;
use super::logfmt;
use super::pattern::Pattern;
use super::template::{Data, Template};

/// The label Loki sets when a stage fails on a line.
pub const ERROR_LABEL: &str = "__error__";
/// Why the stage failed.
pub const ERROR_DETAILS_LABEL: &str = "__error_details__";

/// `__error__` of a line the `json` parser could not read.
pub const JSON_ERR: &str = "JSONParserErr";
/// `__error__` of a line `logfmt --strict` could not read.
pub const LOGFMT_ERR: &str = "LogfmtParserErr";
/// `__error__` when a comparison label filter could not read its label.
pub const LABEL_FILTER_ERR: &str = "LabelFilterErr";
/// `__error__` when a template failed.
pub const TEMPLATE_ERR: &str = "TemplateFormatErr";
/// `__error__` when `unwrap` could not convert its label.
pub const SAMPLE_ERR: &str = "SampleExtractionErr";

/// Checks a `regexp` stage's expression: valid, with a named capture.
pub(crate) fn check_regexp(re: &str) -> Result<(), String> {
    let compiled = Regex::new(re).map_err(|e| format!("invalid regex in regexp stage: {e}"))?;
    if compiled.capture_names().flatten().next().is_none() {
        return Err("at least one named capture must be supplied".into());
    }
    Ok(())
}

enum Compiled {
    Line(LineMatcher),
    Json(Vec<(String, json::Path)>),
    Logfmt {
        strict: bool,
        keep_empty: bool,
        params: Vec<(String, String)>,
    },
    Regexp(Regex),
    Pattern(Pattern),
    Unpack,
    LabelFilter(LabelFilter),
    LineFormat(Template),
    LabelFormat(Vec<(String, Result<Template, String>)>),
    Drop(Vec<LabelSel>),
    Keep(Vec<LabelSel>),
    Decolorize,
}

/// A compiled pipeline. Leading line filters are split off so the store
/// can apply them ([`Pipeline::pushed_filters`]).
pub(crate) struct Pipeline {
    pushed: Vec<LineMatcher>,
    stages: Vec<Compiled>,
}

/// A line during and after the pipeline.
pub(crate) struct Line<'s> {
    stream: &'s Labels,
    metadata: &'s Labels,
    /// Current labels: stream labels, metadata and extracted ones.
    pub labels: BTreeMap<String, String>,
    /// The (possibly reformatted) line.
    pub line: String,
    ts_ns: i64,
}

impl Line<'_> {
    /// The label value, if set.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }

    /// Sets an extracted label; a name the stream or the line's structured
    /// metadata already has gets Loki's `_extracted` suffix.
    fn extract(&mut self, name: String, value: String) {
        let name = if self.stream.get(&name).is_some() || self.metadata.get(&name).is_some() {
            format!("{name}_extracted")
        } else {
            name
        };
        self.labels.entry(name).or_insert(value);
    }

    /// Marks the line as failed in a stage. As in Loki, a later failure
    /// replaces the error, and its details when it has any.
    pub(crate) fn set_error(&mut self, error: &str, details: String) {
        self.labels.insert(ERROR_LABEL.into(), error.into());
        if !details.is_empty() {
            self.labels.insert(ERROR_DETAILS_LABEL.into(), details);
        }
    }

    /// True when a stage failed on the line.
    pub(crate) fn has_error(&self) -> bool {
        self.labels.contains_key(ERROR_LABEL)
    }

    /// The label set as [`Labels`] (empty values kept, as Loki does).
    pub(crate) fn label_set(&self) -> Labels {
        Labels::from_sorted(
            self.labels
                .iter()
                .map(|(k, v)| Label::new(k.clone(), v.clone()))
                .collect(),
        )
    }
}

impl Data for Line<'_> {
    fn label(&self, name: &str) -> Option<&str> {
        self.get(name)
    }
    fn line(&self) -> &str {
        &self.line
    }
    fn timestamp_ns(&self) -> i64 {
        self.ts_ns
    }
}

impl Pipeline {
    /// Compiles the stages of `log`.
    pub(crate) fn compile(log: &LogExpr) -> Result<Self, String> {
        let mut pushed = Vec::new();
        let mut stages = Vec::new();
        for s in &log.stages {
            let c = match s {
                Stage::LineFilter(f) => {
                    let m = LineMatcher::compile(f)?;
                    if stages.is_empty() {
                        pushed.push(m);
                        continue;
                    }
                    Compiled::Line(m)
                }
                Stage::Json(params) => Compiled::Json(
                    params
                        .iter()
                        .map(|p| {
                            let expr = p.expr.as_deref().unwrap_or(&p.label);
                            json::Path::parse(expr).map(|path| (p.label.clone(), path))
                        })
                        .collect::<Result<_, _>>()?,
                ),
                Stage::Logfmt {
                    strict,
                    keep_empty,
                    params,
                } => Compiled::Logfmt {
                    strict: *strict,
                    keep_empty: *keep_empty,
                    params: params.iter().map(extraction_key).collect(),
                },
                Stage::Regexp(re) => Compiled::Regexp(Regex::new(re).map_err(|e| e.to_string())?),
                Stage::Pattern(p) => Compiled::Pattern(Pattern::parse(p)?),
                Stage::Unpack => Compiled::Unpack,
                Stage::LabelFilter(f) => Compiled::LabelFilter(f.clone()),
                Stage::LineFormat(t) => Compiled::LineFormat(Template::parse(t)?),
                Stage::LabelFormat(fmts) => Compiled::LabelFormat(
                    fmts.iter()
                        .map(|f| match f {
                            LabelFmt::Rename { dst, src } => Ok((dst.clone(), Err(src.clone()))),
                            LabelFmt::Template { dst, template } => {
                                Template::parse(template).map(|t| (dst.clone(), Ok(t.for_label())))
                            }
                        })
                        .collect::<Result<_, String>>()?,
                ),
                Stage::Drop(sels) => Compiled::Drop(sels.clone()),
                Stage::Keep(sels) => Compiled::Keep(sels.clone()),
                Stage::Decolorize => Compiled::Decolorize,
            };
            stages.push(c);
        }
        Ok(Self { pushed, stages })
    }

    /// The leading line filters, for the store to apply.
    pub(crate) fn pushed_filters(&self) -> Vec<LineMatcher> {
        self.pushed.clone()
    }

    /// True when no stage changes labels or the line (only the pushed-down
    /// filters): lines keep their stream's labels.
    pub(crate) fn is_passthrough(&self) -> bool {
        self.stages.is_empty()
    }

    /// Runs the stages on one entry of `stream` (pushed filters already
    /// applied by the store); `None` when a stage dropped the line.
    pub(crate) fn process<'s>(&self, stream: &'s Labels, entry: &'s LogEntry) -> Option<Line<'s>> {
        let mut labels: BTreeMap<String, String> = stream
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        for m in entry.structured_metadata.iter() {
            labels.insert(m.name.clone(), m.value.clone());
        }
        let mut line = Line {
            stream,
            metadata: &entry.structured_metadata,
            labels,
            line: entry.line.clone(),
            ts_ns: entry.ts_ns,
        };
        for s in &self.stages {
            if !run_stage(s, &mut line) {
                return None;
            }
        }
        Some(line)
    }
}

fn extraction_key(e: &Extraction) -> (String, String) {
    (
        e.label.clone(),
        e.expr.clone().unwrap_or_else(|| e.label.clone()),
    )
}

/// Runs one stage; false drops the line.
fn run_stage(s: &Compiled, line: &mut Line<'_>) -> bool {
    match s {
        Compiled::Line(m) => return m.is_match(&line.line),
        Compiled::Json(params) if params.is_empty() => {
            let parsed = json::flatten(&line.line);
            for f in parsed.fields {
                line.extract(f.name, f.value);
            }
            if let Some(e) = parsed.error {
                line.set_error(JSON_ERR, e);
            }
        }
        Compiled::Json(params) => {
            // As in Loki, a named extraction only checks that the line
            // starts like JSON (and then gives no details); a key it cannot
            // find, the document broken or not, sets its label empty.
            if !json::starts_like_json(&line.line) {
                line.set_error(JSON_ERR, String::new());
            } else {
                for (label, path) in params {
                    let value = path.lookup(&line.line).unwrap_or_default();
                    line.extract(label.clone(), value);
                }
            }
        }
        Compiled::Logfmt {
            strict,
            keep_empty,
            params,
        } => {
            // As in Loki, the pairs before a fault are kept.
            let parsed = logfmt::parse(&line.line, *strict);
            for (k, v) in parsed.pairs {
                if v.is_empty() && !keep_empty {
                    continue;
                }
                if params.is_empty() {
                    line.extract(json::sanitize(&k), v);
                } else {
                    let labels: Vec<String> = params
                        .iter()
                        .filter(|(_, key)| *key == k)
                        .map(|(l, _)| l.clone())
                        .collect();
                    for l in labels {
                        line.extract(l, v.clone());
                    }
                }
            }
            // Named keys the line lacks get empty labels, as in Loki.
            for (label, _) in params {
                if !line.labels.contains_key(label.as_str()) {
                    line.extract(label.clone(), String::new());
                }
            }
            if let Some(e) = parsed.error {
                line.set_error(LOGFMT_ERR, e);
            }
        }
        Compiled::Regexp(re) => {
            let found: Vec<(String, String)> = match re.captures(&line.line) {
                Some(caps) => re
                    .capture_names()
                    .flatten()
                    .filter_map(|n| {
                        caps.name(n)
                            .map(|m| (n.to_string(), m.as_str().to_string()))
                    })
                    .collect(),
                None => Vec::new(),
            };
            for (k, v) in found {
                line.extract(k, v);
            }
        }
        Compiled::Pattern(p) => {
            let found: Vec<(String, String)> = p
                .captures(&line.line)
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            for (k, v) in found {
                line.extract(k, v);
            }
        }
        Compiled::Unpack => match json::unpack(&line.line) {
            Ok((entry, pairs)) => {
                for (k, v) in pairs {
                    line.extract(k, v);
                }
                if let Some(e) = entry {
                    line.line = e;
                }
            }
            Err(e) => line.set_error(JSON_ERR, e),
        },
        Compiled::LabelFilter(f) => return label_filter(f, line),
        Compiled::LineFormat(t) => match t.render(line) {
            Ok(s) => line.line = s,
            Err(e) => line.set_error(TEMPLATE_ERR, e),
        },
        Compiled::LabelFormat(fmts) => {
            let mut results = Vec::with_capacity(fmts.len());
            for (dst, how) in fmts {
                let value = match how {
                    // Renaming a label the line does not have sets nothing.
                    Err(src) => match line.labels.remove(src) {
                        Some(v) => Ok(v),
                        None => continue,
                    },
                    Ok(t) => t.render(line),
                };
                results.push((dst.clone(), value));
            }
            for (dst, value) in results {
                match value {
                    Ok(v) => {
                        line.labels.insert(dst, v);
                    }
                    Err(e) => line.set_error(TEMPLATE_ERR, e),
                }
            }
        }
        Compiled::Drop(sels) => line
            .labels
            .retain(|k, v| !sels.iter().any(|s| selects(s, k, v))),
        // As in Loki, `keep` never drops the error labels: a line that
        // failed to parse stays marked.
        Compiled::Keep(sels) => line.labels.retain(|k, v| {
            k == ERROR_LABEL || k == ERROR_DETAILS_LABEL || sels.iter().any(|s| selects(s, k, v))
        }),
        Compiled::Decolorize => line.line = decolorize(&line.line),
    }
    true
}

fn selects(s: &LabelSel, name: &str, value: &str) -> bool {
    s.name == name && s.matcher.as_ref().is_none_or(|m| m.is_match(value))
}

/// Applies a label filter; a comparison on an unreadable label keeps the
/// line with `__error__="LabelFilterErr"` (unless it already failed), as
/// in Loki.
pub(crate) fn label_filter(f: &LabelFilter, line: &mut Line<'_>) -> bool {
    match f {
        LabelFilter::Matcher(m) => m.is_match(line.get(&m.name).unwrap_or("")),
        LabelFilter::Compare {
            name,
            op,
            kind,
            value,
            ..
        } => {
            // A missing label fails every comparison (as in Loki).
            let Some(text) = line.get(name) else {
                return false;
            };
            match convert(*kind, text) {
                Ok(v) => op.holds(v, *value),
                Err(e) => {
                    // As in Loki, an earlier (more useful) error stays.
                    if !line.has_error() {
                        line.set_error(LABEL_FILTER_ERR, e);
                    }
                    true
                }
            }
        }
        LabelFilter::Ip {
            name,
            negate,
            range,
        } => {
            // As in Loki: a line that already failed passes, a missing
            // label fails.
            if line.has_error() {
                return true;
            }
            match line.get(name) {
                Some(v) => range.found_in(v) != *negate,
                None => false,
            }
        }
        LabelFilter::And(l, r) => label_filter(l, line) && label_filter(r, line),
        LabelFilter::Or(l, r) => label_filter(l, line) || label_filter(r, line),
        LabelFilter::Paren(inner) => label_filter(inner, line),
    }
}

/// Reads a label value as a number of `kind` (durations in seconds).
pub(crate) fn convert(kind: ValueKind, text: &str) -> Result<f64, String> {
    let t = text.trim();
    match kind {
        ValueKind::Number => t
            .parse::<f64>()
            .map_err(|_| format!("strconv.ParseFloat: parsing {t:?}: invalid syntax")),
        ValueKind::Duration => parse_go_duration(t)
            .map(|ns| ns as f64 / 1e9)
            .ok_or_else(|| format!("time: invalid duration {t:?}")),
        ValueKind::Bytes => parse_bytes(t)
            .map(|b| b as f64)
            .ok_or_else(|| format!("strconv.ParseFloat: parsing {t:?}: invalid syntax")),
    }
}

/// `line` without ANSI colour escape sequences.
fn decolorize(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            while let Some(&n) = chars.peek() {
                chars.next();
                if n.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}
