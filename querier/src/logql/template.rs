//! The Go `text/template` subset `line_format` and `label_format` use:
//! `{{.label}}`, pipelines (`{{ .a | ToUpper }}`), `{{if}}…{{else}}…{{end}}`,
//! and Loki's common template functions (Sprig's string and math helpers,
//! `printf`, `default`, `__line__`, `__timestamp__`, …).

use std::fmt::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::ast::ValueKind;
use super::go_time::{self, GoTime};
use super::pipeline::convert;
use super::tz::Zone;
use crate::promql::format::go_g;

/// Go's `time.Time.String()` layout, for a time printed as text.
const GO_TIME_STRING: &str = "2006-01-02 15:04:05.999999999 -0700 MST";

/// Most spaces `indent` writes per line (a bound on the output a template
/// can make from one call).
const MAX_INDENT: usize = 1024;

/// The widest `alignLeft`/`alignRight` pads to, so one template cannot
/// ask for gigabytes.
const MAX_ALIGN: i64 = 65_536;

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    nodes: Vec<Node>,
    /// The name Loki gives the template (`line` for `line_format`,
    /// `label` for `label_format`); errors quote it.
    name: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Action(Pipeline),
    If {
        cond: Pipeline,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    /// `{{ range [$k,] [$v :=] pipeline }}`: the body for each element
    /// (dot and the variables set to it), `otherwise` when there is none.
    Range {
        key_var: Option<String>,
        value_var: Option<String>,
        over: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    /// `{{ with pipeline }}`: the body with dot set to a truthy value.
    With {
        value: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

/// Most elements one `range` visits (a line's JSON is bounded anyway).
const MAX_RANGE: usize = 10_000;

/// The longest text one rendering (or one function) may produce, so a
/// template cannot turn a line into gigabytes (`repeat`, `indent`, wide
/// `printf` verbs, `range`).
const MAX_OUTPUT: usize = 1 << 20;

/// Fails once a rendering's text is longer than [`MAX_OUTPUT`].
fn bounded(out: &str) -> Result<(), String> {
    if out.len() > MAX_OUTPUT {
        return Err(format!("template: output longer than {MAX_OUTPUT} bytes"));
    }
    Ok(())
}

/// Most `range` iterations one rendering runs, nested ranges included,
/// so a template's cost stays bounded per line.
const MAX_ITERATIONS: usize = 10_000;

#[derive(Debug, Clone, PartialEq)]
struct Pipeline(Vec<Command>);

#[derive(Debug, Clone, PartialEq)]
struct Command(Vec<Arg>);

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    /// `.a.b`: a label, or fields of the value dot stands for.
    Field(Vec<String>),
    /// `$name.a.b` (`$` alone: the line's labels).
    Var(String, Vec<String>),
    Dot,
    Str(String),
    Num(f64),
    Bool(bool),
    /// A function, with where its name stands in the template and the
    /// text of the command it heads (how Go's errors quote it).
    Func(String, Pos, String),
    Sub(Pipeline),
    /// `(pipeline).a.b`: fields of a parenthesised pipeline's value.
    SubFields(Pipeline, Vec<String>),
}

/// Where a name stands in a template: 1-based line, 0-based byte column
/// (as Go's template errors give it).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Pos {
    line: usize,
    col: usize,
}

impl Pos {
    /// The position of byte `at` of `text`.
    fn of(text: &str, at: usize) -> Self {
        let before = &text[..at.min(text.len())];
        match before.rfind('\n') {
            Some(nl) => Pos {
                line: 1 + before.matches('\n').count(),
                col: at - nl - 1,
            },
            None => Pos { line: 1, col: at },
        }
    }
}

/// What a template reads: labels, the line and its timestamp.
pub trait Data {
    /// The value of label `name`.
    fn label(&self, name: &str) -> Option<&str>;
    /// The current line.
    fn line(&self) -> &str;
    /// The line's timestamp, nanoseconds.
    fn timestamp_ns(&self) -> i64;
}

/// A template value.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    S(String),
    F(f64),
    I(i64),
    B(bool),
    /// A point in time (`now`, `toDate`, `unixToTime`).
    T(GoTime),
    /// A decoded JSON document (`fromJson`); `None` for null or text
    /// that is not JSON (Go's nil).
    J(Option<serde_json::Value>),
}

/// A JSON value printed as Go prints what `encoding/json` decodes into
/// `interface{}` (`map[k:v]`, `[a b]`, numbers as float64).
fn go_print_json(v: &serde_json::Value) -> String {
    use serde_json::Value as J;
    match v {
        J::Null => "<nil>".into(),
        J::Bool(b) => b.to_string(),
        J::Number(n) => go_g(n.as_f64().unwrap_or(0.0)),
        J::String(s) => s.clone(),
        J::Array(items) => {
            let parts: Vec<String> = items.iter().map(go_print_json).collect();
            format!("[{}]", parts.join(" "))
        }
        J::Object(m) => {
            let mut parts: Vec<(&String, String)> =
                m.iter().map(|(k, v)| (k, go_print_json(v))).collect();
            parts.sort_by(|a, b| a.0.cmp(b.0));
            let parts: Vec<String> = parts.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

/// sprig's `round`: `value` rounded to `places` decimals, halves away
/// from zero (or from `round_on` when given).
fn sprig_round(value: f64, places: i64, round_on: f64) -> f64 {
    let pow = 10f64.powi(places.clamp(-308, 308) as i32);
    let digit = pow * value;
    let frac = digit.fract();
    let r = if frac.copysign(value) >= round_on.copysign(value) {
        digit.ceil()
    } else {
        digit.floor()
    };
    r / pow
}

impl Val {
    fn text(&self) -> String {
        match self {
            Val::S(s) => s.clone(),
            Val::F(f) => go_g(*f),
            Val::I(i) => i.to_string(),
            Val::B(b) => b.to_string(),
            Val::T(t) => go_time::format(GO_TIME_STRING, *t),
            Val::J(Some(v)) => go_print_json(v),
            Val::J(None) => "<no value>".into(),
        }
    }

    fn truthy(&self) -> bool {
        match self {
            Val::S(s) => !s.is_empty(),
            Val::F(f) => *f != 0.0,
            Val::I(i) => *i != 0,
            Val::B(b) => *b,
            Val::T(_) => true,
            Val::J(v) => match v {
                None | Some(serde_json::Value::Null) => false,
                Some(serde_json::Value::Bool(b)) => *b,
                Some(serde_json::Value::Number(n)) => n.as_f64() != Some(0.0),
                Some(serde_json::Value::String(s)) => !s.is_empty(),
                Some(serde_json::Value::Array(a)) => !a.is_empty(),
                Some(serde_json::Value::Object(m)) => !m.is_empty(),
            },
        }
    }

    fn float(&self) -> f64 {
        match self {
            Val::S(s) => s.trim().parse().unwrap_or(0.0),
            Val::F(f) => *f,
            Val::I(i) => *i as f64,
            Val::B(b) => f64::from(u8::from(*b)),
            Val::T(t) => t.secs as f64,
            Val::J(_) => 0.0,
        }
    }

    fn int(&self) -> i64 {
        match self {
            Val::S(s) => s
                .trim()
                .parse::<i64>()
                .unwrap_or_else(|_| s.trim().parse::<f64>().map_or(0, |f| f as i64)),
            Val::F(f) => *f as i64,
            Val::I(i) => *i,
            Val::B(b) => i64::from(*b),
            Val::T(t) => t.secs,
            Val::J(_) => 0,
        }
    }

    /// The time a value stands for: itself, or Unix seconds for a number
    /// (as sprig's `date` takes either).
    fn time(&self) -> GoTime {
        match self {
            Val::T(t) => *t,
            other => GoTime {
                secs: other.int(),
                nanos: 0,
            },
        }
    }
}

impl Template {
    /// Compiles template text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parser = TemplateParser { text, rest: text };
        let (nodes, end) = parser.nodes()?;
        match end {
            Some(kw) => Err(format!("template: unexpected {{{{{kw}}}}}")),
            None => Ok(Self {
                nodes,
                name: "line",
            }),
        }
    }

    /// The template as `label_format` names it (in its errors).
    pub fn for_label(self) -> Self {
        Self {
            name: "label",
            ..self
        }
    }

    /// Renders the template over `data`.
    pub fn render(&self, data: &dyn Data) -> Result<String, String> {
        let mut out = String::new();
        let budget = std::cell::Cell::new(MAX_ITERATIONS);
        let run = Run {
            data,
            name: self.name,
            dot: None,
            vars: Vec::new(),
            budget: &budget,
        };
        run.nodes(&self.nodes, &mut out)?;
        Ok(out)
    }
}

/// One rendering of a template.
struct Run<'a> {
    data: &'a dyn Data,
    name: &'static str,
    /// What dot stands for inside `range`/`with` (`None`: the labels).
    dot: Option<Val>,
    /// Variables set by `range`, innermost last.
    vars: Vec<(String, Val)>,
    /// `range` iterations left for this rendering.
    budget: &'a std::cell::Cell<usize>,
}

impl Run<'_> {
    fn nodes(&self, nodes: &[Node], out: &mut String) -> Result<(), String> {
        for n in nodes {
            bounded(out)?;
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(p) => out.push_str(&self.pipeline(p)?.text()),
                Node::If {
                    cond,
                    then,
                    otherwise,
                } => {
                    if self.pipeline(cond)?.truthy() {
                        self.nodes(then, out)?;
                    } else {
                        self.nodes(otherwise, out)?;
                    }
                }
                Node::With {
                    value,
                    body,
                    otherwise,
                } => {
                    let v = self.pipeline(value)?;
                    if v.truthy() {
                        self.inner(v, &[]).nodes(body, out)?;
                    } else {
                        self.nodes(otherwise, out)?;
                    }
                }
                Node::Range {
                    key_var,
                    value_var,
                    over,
                    body,
                    otherwise,
                } => {
                    let items = elements(&self.pipeline(over)?)?;
                    if items.is_empty() {
                        self.nodes(otherwise, out)?;
                    }
                    for (k, v) in items.into_iter().take(MAX_RANGE) {
                        let left = self.budget.get().checked_sub(1).ok_or_else(|| {
                            format!("template: more than {MAX_ITERATIONS} range iterations")
                        })?;
                        self.budget.set(left);
                        let mut set = Vec::new();
                        match (key_var, value_var) {
                            (Some(kn), Some(vn)) => {
                                set.push((kn.clone(), k));
                                set.push((vn.clone(), v.clone()));
                            }
                            (None, Some(vn)) => set.push((vn.clone(), v.clone())),
                            _ => {}
                        }
                        self.inner(v, &set).nodes(body, out)?;
                    }
                }
            }
        }
        bounded(out)
    }

    /// The run inside `range`/`with`: dot is `dot`, and `set` adds
    /// variables.
    fn inner(&self, dot: Val, set: &[(String, Val)]) -> Run<'_> {
        let mut vars = self.vars.clone();
        vars.extend_from_slice(set);
        Run {
            data: self.data,
            name: self.name,
            dot: Some(dot),
            vars,
            budget: self.budget,
        }
    }

    /// `names` looked up from `base` (the labels when `None`).
    fn fields(&self, base: Option<Val>, names: &[String]) -> Result<Val, String> {
        let (mut v, rest) = match base {
            Some(v) => (v, names),
            None => match names.split_first() {
                Some((first, rest)) => (
                    Val::S(self.data.label(first).unwrap_or("").to_string()),
                    rest,
                ),
                None => (Val::S(String::new()), names),
            },
        };
        for name in rest {
            v = field(&v, name)?;
        }
        Ok(v)
    }

    fn pipeline(&self, p: &Pipeline) -> Result<Val, String> {
        let mut piped: Option<Val> = None;
        for cmd in &p.0 {
            piped = Some(self.command(cmd, piped)?);
        }
        piped.ok_or_else(|| "empty pipeline".to_string())
    }

    fn arg(&self, a: &Arg) -> Result<Val, String> {
        Ok(match a {
            Arg::Field(names) => self.fields(self.dot.clone(), names)?,
            Arg::Var(name, names) => {
                let base = match name.as_str() {
                    "" => None,
                    _ => Some(
                        self.vars
                            .iter()
                            .rev()
                            .find(|(n, _)| n == name)
                            .map(|(_, v)| v.clone())
                            .ok_or_else(|| format!("undefined variable: ${name}"))?,
                    ),
                };
                self.fields(base, names)?
            }
            Arg::Dot => self.dot.clone().unwrap_or(Val::S(String::new())),
            Arg::Str(s) => Val::S(s.clone()),
            Arg::Num(n) if n.fract() == 0.0 && n.abs() < 9e15 => Val::I(*n as i64),
            Arg::Num(n) => Val::F(*n),
            Arg::Bool(b) => Val::B(*b),
            Arg::Func(f, pos, at) => self.call(f, *pos, at, Vec::new())?,
            Arg::Sub(p) => self.pipeline(p)?,
            Arg::SubFields(p, names) => {
                let v = self.pipeline(p)?;
                self.fields(Some(v), names)?
            }
        })
    }

    fn command(&self, cmd: &Command, piped: Option<Val>) -> Result<Val, String> {
        let Some((first, rest)) = cmd.0.split_first() else {
            return Err("empty command".into());
        };
        match first {
            Arg::Func(f, pos, at) => {
                let mut args = rest
                    .iter()
                    .map(|a| self.arg(a))
                    .collect::<Result<Vec<_>, _>>()?;
                args.extend(piped);
                self.call(f, *pos, at, args)
            }
            other if rest.is_empty() && piped.is_none() => self.arg(other),
            _ => Err("can't give argument to non-function".into()),
        }
    }

    /// Calls function `f`; a failure is reported as Go's templates report
    /// it, naming the template, the function and where it stands.
    fn call(&self, f: &str, pos: Pos, at: &str, args: Vec<Val>) -> Result<Val, String> {
        call(f, args, self.data).map_err(|e| {
            format!(
                "template: {name}:{line}:{col}: executing \"{name}\" at <{at}>: error calling {f}: {e}",
                name = self.name,
                line = pos.line,
                col = pos.col,
            )
        })
    }
}

fn arg(args: &[Val], i: usize, f: &str) -> Result<Val, String> {
    args.get(i)
        .cloned()
        .ok_or_else(|| format!("wrong number of args for {f}"))
}

fn call(f: &str, args: Vec<Val>, data: &dyn Data) -> Result<Val, String> {
    let s = |i: usize| arg(&args, i, f).map(|v| v.text());
    let last = || {
        args.last()
            .map(Val::text)
            .ok_or_else(|| format!("wrong number of args for {f}"))
    };
    Ok(match f {
        "__line__" => Val::S(data.line().to_string()),
        // A time.Time in Loki: printed as Go prints times, or piped into
        // `date` / `unixEpoch`.
        "__timestamp__" => Val::T(GoTime::from_nanos(data.timestamp_ns())),
        "ToLower" | "lower" => Val::S(last()?.to_lowercase()),
        "ToUpper" | "upper" => Val::S(last()?.to_uppercase()),
        "title" | "Title" => Val::S(title(&last()?)),
        "trim" | "TrimSpace" | "trimSpace" => Val::S(last()?.trim().to_string()),
        "trimAll" => {
            let cut: Vec<char> = s(0)?.chars().collect();
            Val::S(s(1)?.trim_matches(|c| cut.contains(&c)).to_string())
        }
        "trimPrefix" | "TrimPrefix" => {
            let (p, v) = (s(0)?, s(1)?);
            Val::S(v.strip_prefix(p.as_str()).unwrap_or(&v).to_string())
        }
        "trimSuffix" | "TrimSuffix" => {
            let (p, v) = (s(0)?, s(1)?);
            Val::S(v.strip_suffix(p.as_str()).unwrap_or(&v).to_string())
        }
        "replace" | "Replace" => Val::S(s(2)?.replace(&s(0)?, &s(1)?)),
        "substr" => {
            let (start, end, v) = (arg(&args, 0, f)?.int(), arg(&args, 1, f)?.int(), s(2)?);
            let chars: Vec<char> = v.chars().collect();
            let len = chars.len() as i64;
            let start = start.clamp(0, len) as usize;
            let end = if end < 0 || end > len { len } else { end } as usize;
            Val::S(
                chars
                    .get(start..end.max(start))
                    .unwrap_or(&[])
                    .iter()
                    .collect(),
            )
        }
        "contains" => Val::B(s(1)?.contains(&s(0)?)),
        "hasPrefix" => Val::B(s(1)?.starts_with(&s(0)?)),
        "hasSuffix" => Val::B(s(1)?.ends_with(&s(0)?)),
        "regexReplaceAll" | "regexReplaceAllLiteral" => {
            let re = regex::Regex::new(&s(0)?).map_err(|e| e.to_string())?;
            let (v, repl) = (s(1)?, s(2)?);
            let out = if f == "regexReplaceAll" {
                re.replace_all(&v, repl.as_str()).into_owned()
            } else {
                re.replace_all(&v, regex::NoExpand(&repl)).into_owned()
            };
            Val::S(out)
        }
        "default" => {
            let given = args.get(1).filter(|v| v.truthy()).cloned();
            match given {
                Some(v) => v,
                None => arg(&args, 0, f)?,
            }
        }
        "printf" => Val::S(printf(&s(0)?, args.get(1..).unwrap_or(&[]))),
        "len" => Val::I(last()?.chars().count() as i64),
        "repeat" => {
            let n = arg(&args, 0, f)?.int().clamp(0, 10_000) as usize;
            let v = s(1)?;
            if v.len().saturating_mul(n) > MAX_OUTPUT {
                return Err(format!("repeat would give more than {MAX_OUTPUT} bytes"));
            }
            Val::S(v.repeat(n))
        }
        "count" => {
            let re = regex::Regex::new(&s(0)?).map_err(|e| e.to_string())?;
            Val::I(re.find_iter(&s(1)?).count() as i64)
        }
        // Loki's: cut to `n` characters (keeping the end for
        // alignRight) or padded to `n`; a negative `n` keeps the text.
        "alignLeft" | "alignRight" => {
            let n = arg(&args, 0, f)?.int().min(MAX_ALIGN);
            let v = s(1)?;
            let len = v.chars().count() as i64;
            let text = if n < 0 || n == len {
                v
            } else if n > len {
                let pad = " ".repeat((n - len) as usize);
                if f == "alignLeft" { v + &pad } else { pad + &v }
            } else if f == "alignLeft" {
                v.chars().take(n as usize).collect()
            } else {
                v.chars().skip((len - n) as usize).collect()
            };
            Val::S(text)
        }
        "add" | "sub" | "mul" | "div" | "mod" | "max" | "min" => {
            let a = arg(&args, 0, f)?.int();
            let b = arg(&args, 1, f)?.int();
            Val::I(match f {
                "add" => a.wrapping_add(b),
                "sub" => a.wrapping_sub(b),
                "mul" => a.wrapping_mul(b),
                // Go's run-time panic, which its templates report.
                "div" | "mod" if b == 0 => {
                    return Err("runtime error: integer divide by zero".into());
                }
                "div" => a.wrapping_div(b),
                "mod" => a.wrapping_rem(b),
                "max" => a.max(b),
                _ => a.min(b),
            })
        }
        "addf" | "subf" | "mulf" | "divf" | "maxf" | "minf" => {
            let a = arg(&args, 0, f)?.float();
            let b = arg(&args, 1, f)?.float();
            Val::F(match f {
                "addf" => a + b,
                "subf" => a - b,
                "mulf" => a * b,
                // sprig divides decimals, which refuse a zero divisor.
                "divf" if b == 0.0 => return Err("decimal division by 0".into()),
                "divf" => a / b,
                "maxf" => a.max(b),
                _ => a.min(b),
            })
        }
        "round" => {
            let places = arg(&args, 1, f)?.int();
            let round_on = args.get(2).map_or(0.5, Val::float);
            Val::F(sprig_round(arg(&args, 0, f)?.float(), places, round_on))
        }
        "fromJson" => Val::J(serde_json::from_str(&last()?).ok()),
        "ceil" => Val::F(arg(&args, 0, f)?.float().ceil()),
        "floor" => Val::F(arg(&args, 0, f)?.float().floor()),
        "int" => Val::I(arg(&args, 0, f)?.int()),
        "float64" => Val::F(arg(&args, 0, f)?.float()),
        "urlencode" => Val::S(urlencode(&last()?)),
        // Go's builtins.
        "print" => Val::S(go_sprint(&args)),
        "println" => {
            let parts: Vec<String> = args.iter().map(Val::text).collect();
            Val::S(parts.join(" ") + "\n")
        }
        "urlquery" => Val::S(urlencode(&go_sprint(&args))),
        "html" => Val::S(html_escape(&go_sprint(&args))),
        "js" => Val::S(js_escape(&go_sprint(&args))),
        "index" => {
            let mut v = arg(&args, 0, f)?;
            for key in args.iter().skip(1) {
                v = index(&v, key)?;
            }
            v
        }
        "slice" => {
            let chars: Vec<char> = s(0)?.chars().collect();
            let from = args.get(1).map_or(0, Val::int);
            let to = args.get(2).map_or(chars.len() as i64, Val::int);
            if from < 0 || to < from || to > chars.len() as i64 {
                return Err(format!("slice: index out of range [{from}:{to}]"));
            }
            Val::S(chars[from as usize..to as usize].iter().collect())
        }
        "urldecode" => Val::S(crate::api::params::percent_decode(&last()?)),
        "b64enc" => Val::S(BASE64.encode(last()?)),
        "b64dec" => {
            let bytes = BASE64.decode(last()?).map_err(|e| format!("b64dec: {e}"))?;
            Val::S(String::from_utf8_lossy(&bytes).into_owned())
        }
        // Go's strings.Trim/TrimLeft/TrimRight: (string, cutset).
        "Trim" | "TrimLeft" | "TrimRight" => {
            let (v, cut) = (s(0)?, s(1)?);
            let cut: Vec<char> = cut.chars().collect();
            let is_cut = |c: char| cut.contains(&c);
            Val::S(
                match f {
                    "Trim" => v.trim_matches(is_cut),
                    "TrimLeft" => v.trim_start_matches(is_cut),
                    _ => v.trim_end_matches(is_cut),
                }
                .to_string(),
            )
        }
        // sprig's trunc: the first n characters, or the last -n.
        "trunc" => {
            let (n, v) = (arg(&args, 0, f)?.int(), s(1)?);
            let chars: Vec<char> = v.chars().collect();
            let keep = usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX);
            Val::S(if chars.len() <= keep {
                v
            } else if n >= 0 {
                chars[..keep].iter().collect()
            } else {
                chars[chars.len() - keep..].iter().collect()
            })
        }
        "indent" | "nindent" => {
            let n = usize::try_from(arg(&args, 0, f)?.int()).unwrap_or(0);
            let pad = " ".repeat(n.min(MAX_INDENT));
            let v = s(1)?;
            let lines = v.matches('\n').count() + 1;
            if v.len().saturating_add(lines.saturating_mul(pad.len())) > MAX_OUTPUT {
                return Err(format!("{f} would give more than {MAX_OUTPUT} bytes"));
            }
            let body = format!("{pad}{}", v.replace('\n', &format!("\n{pad}")));
            Val::S(if f == "nindent" {
                format!("\n{body}")
            } else {
                body
            })
        }
        // Loki's `bytes` and `duration`: a human size in bytes, a Go
        // duration in seconds.
        "bytes" => Val::F(convert(ValueKind::Bytes, &last()?)?),
        "now" => Val::T(GoTime::from_nanos(common::time::now_ns())),
        "date" => Val::S(go_time::format(&s(0)?, arg(&args, 1, f)?.time())),
        // sprig's toDate and Loki's toDateInZone give Go's zero time for
        // text they cannot read; zones are read as UTC.
        // A zone the database lacks is UTC, as in Loki.
        "toDate" | "toDateInZone" => {
            let value = s(args.len().saturating_sub(1))?;
            let zone = match f {
                "toDateInZone" => Zone::named(&s(1)?),
                _ => None,
            };
            Val::T(go_time::parse(&s(0)?, &value, zone.as_deref()).unwrap_or(GoTime::ZERO))
        }
        "unixEpoch" => Val::S(arg(&args, 0, f)?.time().secs.to_string()),
        "unixEpochMillis" | "unixEpochNanos" => {
            let t = arg(&args, 0, f)?.time();
            let (per_sec, per_nano) = if f == "unixEpochMillis" {
                (1_000, 1_000_000)
            } else {
                (1_000_000_000, 1)
            };
            let v = i128::from(t.secs) * per_sec + i128::from(t.nanos / per_nano);
            Val::S(v.to_string())
        }
        "unixToTime" => Val::T(unix_to_time(&last()?)?),
        "duration" | "duration_seconds" => Val::F(convert(ValueKind::Duration, &last()?)?),
        "eq" => Val::B(s(0)? == s(1)?),
        "ne" => Val::B(s(0)? != s(1)?),
        "lt" | "le" | "gt" | "ge" => {
            let (a, b) = (arg(&args, 0, f)?, arg(&args, 1, f)?);
            let ord = match (&a, &b) {
                (Val::S(x), Val::S(y)) => x.cmp(y),
                _ => a.float().total_cmp(&b.float()),
            };
            Val::B(match f {
                "lt" => ord.is_lt(),
                "le" => ord.is_le(),
                "gt" => ord.is_gt(),
                _ => ord.is_ge(),
            })
        }
        "not" => Val::B(!arg(&args, 0, f)?.truthy()),
        "and" => args
            .iter()
            .find(|v| !v.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(Val::B(true)),
        "or" => args
            .iter()
            .find(|v| v.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(Val::B(false)),
        other => return Err(format!("function {other:?} not defined")),
    })
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = c.is_whitespace();
    }
    out
}

/// Loki's `unixToTime`: epoch text read by its length as days (5 digits),
/// seconds (10), milliseconds (13), microseconds (16) or nanoseconds (19).
fn unix_to_time(epoch: &str) -> Result<GoTime, String> {
    let n: i64 = epoch
        .parse()
        .map_err(|e| format!("unable to parse time {epoch:?}: {e}"))?;
    let secs = |s: i64| GoTime { secs: s, nanos: 0 };
    Ok(match epoch.len() {
        5 => secs(n.saturating_mul(86_400)),
        10 => secs(n),
        13 => GoTime::from_nanos(n.saturating_mul(1_000_000)),
        16 => GoTime::from_nanos(n.saturating_mul(1_000)),
        19 => GoTime::from_nanos(n),
        len => {
            return Err(format!(
                "unable to parse time {epoch:?}: length {len} did not match any expected format"
            ));
        }
    })
}

/// Go's `fmt.Sprint`: operands' text, with a space between two operands
/// when neither is a string.
fn go_sprint(args: &[Val]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        let is_str = |v: &Val| matches!(v, Val::S(_));
        if i > 0 && !is_str(a) && !is_str(&args[i - 1]) {
            out.push(' ');
        }
        out.push_str(&a.text());
    }
    out
}

/// Go's `template.HTMLEscapeString`.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' | '>' | '&' | '=' => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c if (c as u32) < 0x20 || c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A decoded JSON value as a template value.
fn json_val(v: serde_json::Value) -> Val {
    use serde_json::Value as J;
    match v {
        J::String(s) => Val::S(s),
        J::Bool(b) => Val::B(b),
        J::Number(n) => Val::F(n.as_f64().unwrap_or(0.0)),
        J::Null => Val::J(None),
        other => Val::J(Some(other)),
    }
}

/// Field `name` of a decoded JSON object (Go's nil when absent).
fn field(v: &Val, name: &str) -> Result<Val, String> {
    match v {
        Val::J(Some(serde_json::Value::Object(m))) => {
            Ok(m.get(name).cloned().map_or(Val::J(None), json_val))
        }
        Val::J(None) => Ok(Val::J(None)),
        _ => Err(format!("can't evaluate field {name} in a non-object")),
    }
}

/// What `range` visits: (key, value) pairs of an array (index keys), an
/// object (its keys in order, as Go sorts map keys) or a count.
fn elements(v: &Val) -> Result<Vec<(Val, Val)>, String> {
    use serde_json::Value as J;
    Ok(match v {
        Val::J(Some(J::Array(a))) => a
            .iter()
            .take(MAX_RANGE)
            .enumerate()
            .map(|(i, e)| (Val::I(i as i64), json_val(e.clone())))
            .collect(),
        Val::J(Some(J::Object(m))) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            keys.into_iter()
                .take(MAX_RANGE)
                .map(|k| (Val::S(k.clone()), json_val(m[k].clone())))
                .collect()
        }
        Val::J(None) => Vec::new(),
        Val::I(n) => (0..(*n).clamp(0, MAX_RANGE as i64))
            .map(|i| (Val::I(i), Val::I(i)))
            .collect(),
        _ => return Err("range can't iterate over this value".into()),
    })
}

/// Go's `index` on a decoded JSON document (object key or array index)
/// or a string (its byte, as a number).
fn index(v: &Val, key: &Val) -> Result<Val, String> {
    use serde_json::Value as J;
    let doc = match v {
        Val::J(Some(doc)) => doc,
        Val::S(s) => {
            let i = key.int();
            return usize::try_from(i)
                .ok()
                .and_then(|i| s.as_bytes().get(i))
                .map(|b| Val::I(i64::from(*b)))
                .ok_or_else(|| format!("index out of range: {i}"));
        }
        _ => return Err("can't index item".into()),
    };
    let found = match doc {
        J::Object(m) => m.get(&key.text()).cloned(),
        J::Array(a) => usize::try_from(key.int())
            .ok()
            .and_then(|i| a.get(i))
            .cloned(),
        _ => return Err("can't index item".into()),
    };
    Ok(found.map_or(Val::J(None), json_val))
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%s %v %d %f %g %q %x %%`
/// with optional width and precision.
fn printf(format: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_digit() || n == '.' || n == '-' {
                spec.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(v) = args.next() else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        let left = spec.starts_with('-');
        let spec = spec.trim_start_matches('-');
        let fill = if spec.starts_with('0') && !left {
            "0"
        } else {
            " "
        };
        let cap = |n: usize| n.min(MAX_ALIGN as usize);
        let (width, prec) = match spec.split_once('.') {
            Some((w, p)) => (
                cap(w.parse::<usize>().unwrap_or(0)),
                p.parse::<usize>().ok().map(cap),
            ),
            None => (cap(spec.parse().unwrap_or(0)), None),
        };
        let text = match verb {
            'd' => v.int().to_string(),
            'f' | 'F' => format!("{:.*}", prec.unwrap_or(6), v.float()),
            'e' => format!("{:.*e}", prec.unwrap_or(6), v.float()),
            'g' => go_g(v.float()),
            'q' => super::ast::quote(&v.text()),
            'x' => match v {
                Val::I(i) => format!("{i:x}"),
                other => other.text().bytes().map(|b| format!("{b:02x}")).collect(),
            },
            's' | 'v' => match prec {
                Some(p) => v.text().chars().take(p).collect(),
                None => v.text(),
            },
            other => format!("%!{other}({})", v.text()),
        };
        let pad = width.saturating_sub(text.chars().count());
        if left {
            out.push_str(&text);
            out.push_str(&" ".repeat(pad));
        } else if fill == "0" && text.starts_with('-') {
            out.push('-');
            out.push_str(&"0".repeat(pad));
            out.push_str(&text[1..]);
        } else {
            out.push_str(&fill.repeat(pad));
            out.push_str(&text);
        }
    }
    out
}

struct TemplateParser<'a> {
    /// The whole template, for positions.
    text: &'a str,
    rest: &'a str,
}

impl TemplateParser<'_> {
    /// The body of an `if`/`range`/`with` and its `{{else}}` part, through
    /// the closing `{{end}}`.
    fn body_and_else(&mut self) -> Result<(Vec<Node>, Vec<Node>), String> {
        let (body, end) = self.nodes()?;
        let otherwise = match end.as_deref() {
            Some("else") => {
                let (otherwise, end) = self.nodes()?;
                if end.as_deref() != Some("end") {
                    return Err("template: missing {{end}}".into());
                }
                otherwise
            }
            Some("end") => Vec::new(),
            _ => return Err("template: missing {{end}}".into()),
        };
        Ok((body, otherwise))
    }

    /// Nodes up to the end of input or an `{{else}}`/`{{end}}` (returned).
    fn nodes(&mut self) -> Result<(Vec<Node>, Option<String>), String> {
        let mut nodes = Vec::new();
        loop {
            let Some(open) = self.rest.find("{{") else {
                if !self.rest.is_empty() {
                    nodes.push(Node::Text(self.rest.to_string()));
                }
                self.rest = "";
                return Ok((nodes, None));
            };
            let mut text = &self.rest[..open];
            let mut inner_start = open + 2;
            if self.rest[inner_start..].starts_with('-') {
                text = text.trim_end();
                inner_start += 1;
            }
            if !text.is_empty() {
                nodes.push(Node::Text(text.to_string()));
            }
            let close = find_close(&self.rest[inner_start..]).ok_or("template: unclosed action")?
                + inner_start;
            let mut inner = &self.rest[inner_start..close];
            let mut after = &self.rest[close + 2..];
            if let Some(stripped) = inner.strip_suffix('-') {
                inner = stripped;
                after = after.trim_start();
            }
            self.rest = after;
            let inner = inner.trim();
            let (word, tail) = match inner.split_once(char::is_whitespace) {
                Some((w, t)) => (w, t.trim()),
                None => (inner, ""),
            };
            match word {
                "end" | "else" if tail.is_empty() => return Ok((nodes, Some(word.to_string()))),
                "if" => {
                    let cond = parse_pipeline(self.text, tail)?;
                    let (then, otherwise) = self.body_and_else()?;
                    nodes.push(Node::If {
                        cond,
                        then,
                        otherwise,
                    });
                }
                "range" | "with" => {
                    let (key_var, value_var, pipe) = declaration(tail)?;
                    let value = parse_pipeline(self.text, pipe)?;
                    let (body, otherwise) = self.body_and_else()?;
                    nodes.push(if word == "range" {
                        Node::Range {
                            key_var,
                            value_var,
                            over: value,
                            body,
                            otherwise,
                        }
                    } else {
                        Node::With {
                            value,
                            body,
                            otherwise,
                        }
                    });
                }
                _ if inner.starts_with("/*") => {}
                _ => nodes.push(Node::Action(parse_pipeline(self.text, inner)?)),
            }
        }
    }
}

/// `$k, $v := pipeline`, `$v := pipeline` or `pipeline`: the variables
/// (without `$`) and the pipeline's text.
type Declaration<'a> = (Option<String>, Option<String>, &'a str);

fn declaration(tail: &str) -> Result<Declaration<'_>, String> {
    let Some((lhs, pipe)) = tail.split_once(":=").filter(|_| tail.starts_with('$')) else {
        return Ok((None, None, tail));
    };
    let var = |v: &str| -> Result<String, String> {
        let name = v.trim().strip_prefix('$').unwrap_or("");
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(format!("template: bad variable {v:?}"));
        }
        Ok(name.to_string())
    };
    let names: Vec<&str> = lhs.split(',').collect();
    match names.as_slice() {
        [v] => Ok((None, Some(var(v)?), pipe.trim())),
        [k, v] => Ok((Some(var(k)?), Some(var(v)?), pipe.trim())),
        _ => Err("template: too many declarations in range".into()),
    }
}

/// Where the action's closing `}}` is, skipping string literals.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

#[derive(Debug, Clone, PartialEq)]
enum ActTok {
    Arg(Arg),
    Pipe,
    Open,
    Close,
}

/// The tokens of action text `s`, which starts at byte `base` of the
/// template `text`.
/// Each token comes with the byte span it covers in `s`.
fn lex_action(text: &str, s: &str, base: usize) -> Result<Vec<(ActTok, Span)>, String> {
    let chars: Vec<char> = s.chars().collect();
    let offsets: Vec<usize> = s.char_indices().map(|(at, _)| at).collect();
    let byte = |i: usize| offsets.get(i).copied().unwrap_or(s.len());
    let mut out = Vec::new();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (start, before) = (i, out.len());
        lex_one(text, base, &chars, &offsets, &mut i, &mut out)?;
        if out.len() > before {
            spans.push(Span(byte(start), byte(i)));
        }
    }
    Ok(out.into_iter().zip(spans).collect())
}

/// Where a token stands in its action text (byte offsets).
#[derive(Debug, Clone, Copy)]
struct Span(usize, usize);

/// Reads the token at `chars[*i]` into `out` (nothing for whitespace).
fn lex_one(
    text: &str,
    base: usize,
    chars: &[char],
    offsets: &[usize],
    at: &mut usize,
    out: &mut Vec<ActTok>,
) -> Result<(), String> {
    let mut i = *at;
    {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '|' => {
                out.push(ActTok::Pipe);
                i += 1;
            }
            '(' => {
                out.push(ActTok::Open);
                i += 1;
            }
            ')' => {
                out.push(ActTok::Close);
                i += 1;
            }
            '"' | '`' => {
                let mut j = i + 1;
                let mut v = String::new();
                while j < chars.len() && chars[j] != c {
                    if c == '"' && chars[j] == '\\' && j + 1 < chars.len() {
                        j += 1;
                        v.push(match chars[j] {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                    } else {
                        v.push(chars[j]);
                    }
                    j += 1;
                }
                if j >= chars.len() {
                    return Err("template: unterminated string".into());
                }
                out.push(ActTok::Arg(Arg::Str(v)));
                i = j + 1;
            }
            '.' => {
                let (names, j) = field_chain(chars, i);
                out.push(ActTok::Arg(if names.is_empty() {
                    Arg::Dot
                } else {
                    Arg::Field(names)
                }));
                i = j;
            }
            '$' => {
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                let (names, end) = field_chain(chars, j);
                out.push(ActTok::Arg(Arg::Var(name, names)));
                i = end;
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' => {
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '.') {
                    j += 1;
                }
                let text: String = chars[i..j].iter().collect();
                let n: f64 = text
                    .parse()
                    .map_err(|_| format!("template: bad number {text:?}"))?;
                out.push(ActTok::Arg(Arg::Num(n)));
                i = j;
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut j = i;
                while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                let name: String = chars[i..j].iter().collect();
                out.push(ActTok::Arg(match name.as_str() {
                    "true" => Arg::Bool(true),
                    "false" => Arg::Bool(false),
                    _ => Arg::Func(name.clone(), Pos::of(text, base + offsets[i]), name),
                }));
                i = j;
            }
            other => return Err(format!("template: unexpected {other:?} in action")),
        }
    }
    *at = i;
    Ok(())
}

/// The names of `.a.b…` starting at `chars[at]` (none when there is no
/// `.name` there), and where the chain ends.
fn field_chain(chars: &[char], mut at: usize) -> (Vec<String>, usize) {
    let mut names = Vec::new();
    while at < chars.len() && chars[at] == '.' {
        let mut j = at + 1;
        while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
            j += 1;
        }
        if j == at + 1 {
            // A lone `.` (dot itself) ends the chain after it.
            if names.is_empty() {
                at += 1;
            }
            break;
        }
        names.push(chars[at + 1..j].iter().collect());
        at = j;
    }
    (names, at)
}

/// Parses action text `s`, a slice of the template `text`.
fn parse_pipeline(text: &str, s: &str) -> Result<Pipeline, String> {
    let base = (s.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
    let toks = lex_action(text, s, base)?;
    let mut pos = 0;
    let p = pipeline_from(s, &toks, &mut pos)?;
    if pos != toks.len() {
        return Err("template: unexpected ) in action".into());
    }
    Ok(p)
}

/// A command ends: a function heading it learns the command's text
/// (whitespace runs collapsed, as Go prints a command).
fn finish_command(s: &str, mut cur: Vec<Arg>, from: Span, to: Span) -> Command {
    if let Some(Arg::Func(_, _, at)) = cur.first_mut() {
        let raw = s.get(from.0..to.1).unwrap_or("");
        *at = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    Command(cur)
}

fn pipeline_from(s: &str, toks: &[(ActTok, Span)], pos: &mut usize) -> Result<Pipeline, String> {
    let mut cmds = Vec::new();
    let mut cur = Vec::new();
    let mut first = Span(0, 0);
    let mut last = Span(0, 0);
    while let Some((t, span)) = toks.get(*pos) {
        if cur.is_empty() {
            first = *span;
        }
        match t {
            ActTok::Close => break,
            ActTok::Pipe => {
                if cur.is_empty() {
                    return Err("template: missing command before |".into());
                }
                cmds.push(finish_command(s, std::mem::take(&mut cur), first, last));
                *pos += 1;
            }
            ActTok::Open => {
                *pos += 1;
                let sub = pipeline_from(s, toks, pos)?;
                match toks.get(*pos) {
                    Some((ActTok::Close, close)) => last = *close,
                    _ => return Err("template: unclosed (".into()),
                }
                *pos += 1;
                // `(…).a.b`: a field chain right after the parenthesis.
                match toks.get(*pos) {
                    Some((ActTok::Arg(Arg::Field(names)), span)) if span.0 == last.1 => {
                        cur.push(Arg::SubFields(sub, names.clone()));
                        last = *span;
                        *pos += 1;
                    }
                    _ => cur.push(Arg::Sub(sub)),
                }
            }
            ActTok::Arg(a) => {
                if let Arg::Func(name, _, _) = a
                    && !is_function(name)
                {
                    return Err(format!("template: function {name:?} not defined"));
                }
                cur.push(a.clone());
                last = *span;
                *pos += 1;
            }
        }
    }
    if cur.is_empty() {
        return Err("template: missing value for command".into());
    }
    cmds.push(finish_command(s, cur, first, last));
    Ok(Pipeline(cmds))
}

const FUNCTIONS: &[&str] = &[
    "__line__",
    "__timestamp__",
    "ToLower",
    "lower",
    "ToUpper",
    "upper",
    "title",
    "Title",
    "trim",
    "TrimSpace",
    "trimSpace",
    "trimAll",
    "trimPrefix",
    "TrimPrefix",
    "trimSuffix",
    "TrimSuffix",
    "replace",
    "Replace",
    "substr",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "default",
    "printf",
    "len",
    "repeat",
    "count",
    "alignLeft",
    "alignRight",
    "add",
    "sub",
    "mul",
    "div",
    "mod",
    "max",
    "min",
    "addf",
    "subf",
    "mulf",
    "divf",
    "maxf",
    "minf",
    "round",
    "fromJson",
    "ceil",
    "floor",
    "int",
    "float64",
    "urlencode",
    "print",
    "println",
    "urlquery",
    "html",
    "js",
    "index",
    "slice",
    "urldecode",
    "b64enc",
    "b64dec",
    "Trim",
    "TrimLeft",
    "TrimRight",
    "trunc",
    "indent",
    "nindent",
    "bytes",
    "duration",
    "duration_seconds",
    "now",
    "date",
    "toDate",
    "toDateInZone",
    "unixEpoch",
    "unixEpochMillis",
    "unixEpochNanos",
    "unixToTime",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "not",
    "and",
    "or",
];

fn is_function(name: &str) -> bool {
    FUNCTIONS.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct D;
    impl Data for D {
        fn label(&self, name: &str) -> Option<&str> {
            match name {
                "app" => Some("api"),
                "n" => Some("7"),
                _ => None,
            }
        }
        fn line(&self) -> &str {
            "the line"
        }
        fn timestamp_ns(&self) -> i64 {
            5
        }
    }

    /// A line whose `n` is 0.
    struct Data0;
    impl Data for Data0 {
        fn label(&self, name: &str) -> Option<&str> {
            (name == "n").then_some("0")
        }
        fn line(&self) -> &str {
            ""
        }
        fn timestamp_ns(&self) -> i64 {
            0
        }
    }

    fn r(t: &str) -> String {
        Template::parse(t).unwrap().render(&D).unwrap()
    }

    #[test]
    fn sprig_round_align_and_from_json_as_loki() {
        assert_eq!(
            r("{{ round 2.456 1 }} {{ round -2.46 1 }} {{ round 2.4 0 }}"),
            "2.5 -2.5 2"
        );
        assert_eq!(
            r("{{ alignLeft 3 .app }}|{{ alignRight 2 .app }}|{{ alignRight 5 .app }}"),
            "api|pi|  api"
        );
        assert_eq!(r("{{ alignLeft -1 .app }}"), "api");
        assert_eq!(
            r(r#"{{ fromJson "{\"b\":[1,\"x\"],\"a\":55}" }}|{{ fromJson "nope" }}"#),
            "map[a:55 b:[1 x]]|<no value>"
        );
    }

    #[test]
    fn range_with_and_variables_over_json() {
        assert_eq!(
            r(
                r#"{{ range $q := fromJson "[{\"query\":\"a\"},{\"query\":\"b\"}]" }}[{{ $q.query }}]{{ end }}"#
            ),
            "[a][b]"
        );
        assert_eq!(
            r(r#"{{ range fromJson "[1,2.5]" }}{{ . }},{{ end }}"#),
            "1,2.5,"
        );
        assert_eq!(
            r(r#"{{ range $k, $v := fromJson "{\"b\":1,\"a\":2}" }}{{ $k }}={{ $v }};{{ end }}"#),
            "a=2;b=1;"
        );
        assert_eq!(
            r(r#"{{ range fromJson "[]" }}x{{ else }}none{{ end }}"#),
            "none"
        );
        assert_eq!(
            r(r#"{{ with fromJson "{\"a\":{\"b\":\"c\"}}" }}{{ .a.b }}/{{ $.app }}{{ end }}"#),
            "c/api"
        );
        assert_eq!(r("{{ with .missing }}x{{ else }}y{{ end }}"), "y");
        assert_eq!(
            r(
                r#"{{ range $i, $t := (fromJson "{\"t\":[\"a\",\"b\"]}").t }}{{ $i }}:{{ $t }} {{ end }}"#
            ),
            "0:a 1:b "
        );
        assert!(Template::parse("{{ range $a, $b, $c := .x }}{{ end }}").is_err());
        // Output is bounded, however it is asked for.
        for t in [
            "{{ range 5000 }}{{ repeat 300 \"x\" }}{{ end }}",
            "{{ repeat 10000 (repeat 1000 \"x\") }}",
            "{{ printf \"%999999999s\" \"x\" | len }}",
        ] {
            let out = Template::parse(t).unwrap().render(&D);
            assert!(
                out.as_ref().map_or(true, |o| o.len() < 2 * MAX_OUTPUT),
                "{t}"
            );
        }
        // Nested ranges share one budget per rendering.
        let t = Template::parse("{{ range 200 }}{{ range 200 }}x{{ end }}{{ end }}").unwrap();
        assert!(t.render(&D).unwrap_err().contains("range iterations"));
    }

    #[test]
    fn go_builtins() {
        assert_eq!(r(r#"{{ print "a" 1 2 "b" }}"#), "a1 2b");
        assert_eq!(
            r(r#"{{ html "<a href='x'>&" }}"#),
            "&lt;a href=&#39;x&#39;&gt;&amp;"
        );
        assert_eq!(
            r(r#"{{ js "it's <b>=\\" }}"#),
            "it\\'s \\u003Cb\\u003E\\u003D\\\\"
        );
        assert_eq!(r(r#"{{ urlquery "a b&c" }}"#), "a+b%26c");
        assert_eq!(r(r#"{{ slice "abcdef" 1 3 }}"#), "bc");
        assert_eq!(
            r(r#"{{ index (fromJson "{\"a\":{\"b\":[5,\"x\"]}}") "a" "b" 1 }}"#),
            "x"
        );
    }

    #[test]
    fn to_date_in_zone_reads_wall_clock_times_in_the_zone() {
        assert_eq!(
            r(
                r#"{{ toDateInZone "2006-01-02 15:04" "America/New_York" "2023-07-14 10:00" | unixEpoch }}"#
            ),
            "1689343200"
        );
        // A zone the database lacks is UTC, as in Loki.
        assert_eq!(
            r(r#"{{ toDateInZone "2006-01-02" "Nowhere/City" "2023-11-14" | unixEpoch }}"#),
            "1699920000"
        );
    }

    #[test]
    fn a_failing_function_is_reported_as_go_reports_it() {
        let t = Template::parse("{{ .app }}\n  {{ .missing | duration }}").unwrap();
        assert_eq!(
            t.render(&D).unwrap_err(),
            "template: line:2:16: executing \"line\" at <duration>: error calling duration: time: invalid duration \"\""
        );
        let t = Template::parse("{{ .n | float64 | divf  1024 | printf \"%.2f\" }}").unwrap();
        let d = Data0;
        assert_eq!(
            t.render(&d).unwrap_err(),
            "template: line:1:18: executing \"line\" at <divf 1024>: error calling divf: decimal division by 0"
        );
        let t = Template::parse("{{ bytes .app }}").unwrap().for_label();
        assert!(t.render(&D).unwrap_err().starts_with(
            "template: label:1:3: executing \"label\" at <bytes .app>: error calling bytes: "
        ),);
    }

    #[test]
    fn fields_functions_and_pipes() {
        assert_eq!(r("{{.app}}-{{ .app | ToUpper }}"), "api-API");
        assert_eq!(r("{{ printf \"%s=%03d\" .app .n }}"), "api=007");
        assert_eq!(r("{{ default \"none\" .missing }}"), "none");
        assert_eq!(r("{{ div .n 2 }} {{ divf .n 2 }}"), "3 3.5");
        assert_eq!(r("{{ __line__ | replace \"line\" \"end\" }}"), "the end");
        assert_eq!(r("{{ regexReplaceAll \"(a)(p)\" .app \"${2}$1\" }}"), "pai");
        assert_eq!(r("{{if .app}}yes{{else}}no{{end}}"), "yes");
        assert_eq!(r("{{if .zzz}}yes{{else}}no{{end}}"), "no");
        assert_eq!(r("a  {{- .app -}}  b"), "aapib");
    }

    #[test]
    fn lokis_string_size_and_encoding_functions() {
        assert_eq!(r("{{ Trim \"xxapixx\" \"x\" }}"), "api");
        assert_eq!(
            r("{{ TrimLeft \"xxapix\" \"x\" }}|{{ TrimRight \"xapixx\" \"x\" }}"),
            "apix|xapi"
        );
        assert_eq!(
            r("{{ trunc 2 .app }}|{{ trunc -2 .app }}|{{ trunc 9 .app }}"),
            "ap|pi|api"
        );
        assert_eq!(r("{{ indent 2 \"a\\nb\" }}"), "  a\n  b");
        assert_eq!(r("{{ nindent 1 .app }}"), "\n api");
        assert_eq!(r("{{ .app | b64enc }}|{{ \"YXBp\" | b64dec }}"), "YXBp|api");
        assert_eq!(r("{{ urldecode \"a%2Fb+c\" }}"), "a/b c");
        assert_eq!(r("{{ bytes \"1.5KB\" }}|{{ bytes \"2KiB\" }}"), "1500|2048");
        assert_eq!(
            r("{{ duration \"1m30s\" }}|{{ duration_seconds \"250ms\" }}"),
            "90|0.25"
        );
    }

    #[test]
    fn lokis_time_functions() {
        let ts = "1700000000123";
        assert_eq!(
            r(&format!("{{{{ unixToTime \"{ts}\" }}}}")),
            "2023-11-14 22:13:20.123 +0000 UTC"
        );
        assert_eq!(
            r(&format!(
                "{{{{ unixToTime \"{ts}\" | date \"2006-01-02T15:04:05Z07:00\" }}}}"
            )),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            r(&format!(
                "{{{{ unixEpochMillis (unixToTime \"{ts}\") }}}}|{{{{ unixEpoch (unixToTime \"{ts}\") }}}}"
            )),
            "1700000000123|1700000000"
        );
        assert_eq!(
            r("{{ toDate \"2006-01-02\" \"2023-11-14\" | unixEpoch }}"),
            "1699920000"
        );
        assert_eq!(
            r("{{ toDateInZone \"2006-01-02\" \"UTC\" \"nonsense\" }}"),
            "0001-01-01 00:00:00 +0000 UTC"
        );
        assert_eq!(r("{{ date \"2006\" 0 }}"), "1970");
        assert!(r("{{ now | unixEpoch }}").parse::<i64>().unwrap() > 1_700_000_000);
    }

    #[test]
    fn errors() {
        assert!(Template::parse("{{ .a").is_err());
        assert!(Template::parse("{{ nosuch .a }}").is_err());
        assert!(Template::parse("{{ end }}").is_err());
    }
}
