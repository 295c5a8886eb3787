//! The Go `text/template` subset Prometheus alert labels and annotations
//! use: `{{ $labels.job }}`, `{{ .Labels.job }}`, `{{ $value }}`,
//! `{{ $externalLabels.x }}`, `{{ $externalURL }}`, pipelines
//! (`{{ $value | humanize }}`), `{{ $x := … }}`, `{{ if … }}{{ else }}{{ end }}`,
//! comments, `{{-`/`-}}` trimming, and Prometheus's template functions
//! ([`functions`]), including `query` with `first`, `value` and `label`:
//! the queries (string literals) are listed by [`Template::queries`] and
//! evaluated by the caller before rendering, since rendering is synchronous.

mod functions;
mod parse;

use std::collections::{BTreeMap, HashMap};

use parse::{Node, Operand, Pipeline};

/// One sample of a `query` result: labels and value.
pub type QuerySample = (BTreeMap<String, String>, f64);

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    nodes: Vec<Node>,
}

/// What an alert's templates see.
#[derive(Debug, Clone, Copy)]
pub struct TemplateData<'a> {
    /// The alert's labels (`$labels`, `.Labels`).
    pub labels: &'a BTreeMap<String, String>,
    /// The ruler's external labels (`$externalLabels`).
    pub external_labels: &'a BTreeMap<String, String>,
    /// The ruler's external URL (`$externalURL`).
    pub external_url: &'a str,
    /// The alert's value (`$value`, `.Value`).
    pub value: f64,
    /// Results of the template's `query` calls, by query text.
    pub queries: &'a HashMap<String, Vec<QuerySample>>,
}

/// A value inside template evaluation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Str(String),
    Num(f64),
    Bool(bool),
    Map(BTreeMap<String, String>),
    /// A `query` result.
    Samples(Vec<QuerySample>),
    /// One sample of it (`first`).
    Sample(QuerySample),
    /// The template's dot: `.Labels`, `.Value`, ….
    Root,
    /// A missing map key or field (printed `<no value>`, as Go does).
    Nil,
}

impl Val {
    pub(crate) fn text(&self) -> String {
        match self {
            Val::Str(s) => s.clone(),
            Val::Num(v) => querier::promql::format::go_g(*v),
            Val::Bool(b) => b.to_string(),
            Val::Map(m) => {
                let pairs: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("map[{}]", pairs.join(" "))
            }
            Val::Samples(v) => format!("[{} samples]", v.len()),
            Val::Sample((labels, v)) => format!(
                "{} {}",
                Val::Map(labels.clone()).text(),
                Val::Num(*v).text()
            ),
            Val::Root => "{}".into(),
            Val::Nil => "<no value>".into(),
        }
    }

    pub(crate) fn truthy(&self) -> bool {
        match self {
            Val::Str(s) => !s.is_empty(),
            Val::Num(v) => *v != 0.0,
            Val::Bool(b) => *b,
            Val::Map(m) => !m.is_empty(),
            Val::Samples(v) => !v.is_empty(),
            Val::Sample(_) | Val::Root => true,
            Val::Nil => false,
        }
    }

    /// The value as a number, the way Prometheus's functions convert
    /// (strings are parsed).
    pub(crate) fn number(&self) -> Result<f64, String> {
        match self {
            Val::Num(v) => Ok(*v),
            Val::Str(s) => s
                .trim()
                .parse()
                .map_err(|_| format!("can't convert {s:?} to float")),
            Val::Bool(b) => Ok(f64::from(u8::from(*b))),
            other => Err(format!("can't convert {} to float", other.text())),
        }
    }
}

/// Variables in scope while rendering.
struct Scope<'a> {
    data: &'a TemplateData<'a>,
    vars: BTreeMap<String, Val>,
}

impl Template {
    /// Compiles template text; errors say what is wrong (unclosed action,
    /// unknown function, …).
    pub fn parse(text: &str) -> Result<Self, String> {
        Ok(Self {
            nodes: parse::parse(text)?,
        })
    }

    /// The queries the template runs (`query "…"`), to evaluate and pass
    /// in [`TemplateData::queries`].
    pub fn queries(&self) -> Vec<String> {
        let mut out = Vec::new();
        parse::queries(&self.nodes, &mut out);
        out
    }

    /// Renders the template over `data`.
    pub fn render(&self, data: &TemplateData<'_>) -> Result<String, String> {
        let mut vars = BTreeMap::new();
        vars.insert("labels".into(), Val::Map(data.labels.clone()));
        vars.insert(
            "externalLabels".into(),
            Val::Map(data.external_labels.clone()),
        );
        vars.insert("externalURL".into(), Val::Str(data.external_url.into()));
        vars.insert("value".into(), Val::Num(data.value));
        vars.insert(String::new(), Val::Root);
        let mut scope = Scope { data, vars };
        let mut out = String::new();
        render_nodes(&self.nodes, &mut scope, &mut out)?;
        Ok(out)
    }
}

/// Parses and renders `text` in one step (alert labels and annotations).
pub fn expand(text: &str, data: &TemplateData<'_>) -> Result<String, String> {
    if !text.contains("{{") {
        return Ok(text.to_string());
    }
    Template::parse(text)?.render(data)
}

fn render_nodes(nodes: &[Node], scope: &mut Scope<'_>, out: &mut String) -> Result<(), String> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action { declare, pipeline } => {
                let v = eval_pipeline(pipeline, scope)?;
                match declare {
                    Some(name) => {
                        scope.vars.insert(name.clone(), v);
                    }
                    None => out.push_str(&v.text()),
                }
            }
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                let branch = if eval_pipeline(cond, scope)?.truthy() {
                    then
                } else {
                    otherwise
                };
                render_nodes(branch, scope, out)?;
            }
        }
    }
    Ok(())
}

fn eval_pipeline(p: &Pipeline, scope: &Scope<'_>) -> Result<Val, String> {
    let mut piped = None;
    for cmd in &p.0 {
        let Some((first, rest)) = cmd.split_first() else {
            return Err("empty command".into());
        };
        piped = Some(match first {
            Operand::Func(name) => {
                let mut args = rest
                    .iter()
                    .map(|a| eval_operand(a, scope))
                    .collect::<Result<Vec<_>, _>>()?;
                args.extend(piped);
                if name == "query" {
                    run_query(&args, scope.data)?
                } else {
                    functions::call(name, &args)?
                }
            }
            other if rest.is_empty() && piped.is_none() => eval_operand(other, scope)?,
            _ => return Err("can't give argument to non-function".into()),
        });
    }
    piped.ok_or_else(|| "empty pipeline".to_string())
}

/// The pre-evaluated result of `query <text>`.
fn run_query(args: &[Val], data: &TemplateData<'_>) -> Result<Val, String> {
    let [Val::Str(q)] = args else {
        return Err("query takes one string".into());
    };
    data.queries
        .get(q)
        .map(|v| Val::Samples(v.clone()))
        .ok_or_else(|| format!("query {q:?} was not evaluated (queries must be string literals)"))
}

fn eval_operand(op: &Operand, scope: &Scope<'_>) -> Result<Val, String> {
    Ok(match op {
        Operand::Str(s) => Val::Str(s.clone()),
        Operand::Num(n) => Val::Num(*n),
        Operand::Bool(b) => Val::Bool(*b),
        Operand::Func(name) => functions::call(name, &[])?,
        Operand::Sub(p) => eval_pipeline(p, scope)?,
        Operand::Var(name, path) => {
            let base = scope
                .vars
                .get(name)
                .cloned()
                .ok_or_else(|| format!("undefined variable \"${name}\""))?;
            walk(base, path, scope.data)?
        }
        Operand::Field(path) => walk(Val::Root, path, scope.data)?,
    })
}

/// Follows `.a.b` from `v`.
fn walk(mut v: Val, path: &[String], data: &TemplateData<'_>) -> Result<Val, String> {
    for field in path {
        v = match v {
            Val::Map(m) => m.get(field).map_or(Val::Nil, |s| Val::Str(s.clone())),
            Val::Root => match field.as_str() {
                "Labels" => Val::Map(data.labels.clone()),
                "ExternalLabels" => Val::Map(data.external_labels.clone()),
                "ExternalURL" => Val::Str(data.external_url.into()),
                "Value" => Val::Num(data.value),
                other => return Err(format!("can't evaluate field {other}")),
            },
            Val::Sample((labels, value)) => match field.as_str() {
                "Labels" => Val::Map(labels),
                "Value" => Val::Num(value),
                other => return Err(format!("can't evaluate field {other} of a sample")),
            },
            Val::Nil => Val::Nil,
            other => {
                return Err(format!("can't evaluate field {field} in {}", other.text()));
            }
        };
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(text: &str, value: f64) -> String {
        let labels = BTreeMap::from([
            ("job".to_string(), "api".to_string()),
            ("instance".to_string(), "host:9090".to_string()),
        ]);
        let ext = BTreeMap::from([("cluster".to_string(), "eu".to_string())]);
        let queries = HashMap::from([(
            "sum(up)".to_string(),
            vec![(BTreeMap::from([("job".to_string(), "x".to_string())]), 3.0)],
        )]);
        let data = TemplateData {
            labels: &labels,
            external_labels: &ext,
            external_url: "http://cairn",
            value,
            queries: &queries,
        };
        Template::parse(text).unwrap().render(&data).unwrap()
    }

    #[test]
    fn variables_fields_and_pipelines() {
        assert_eq!(
            render("{{ $labels.job }} on {{ .Labels.instance }}", 1.0),
            "api on host:9090"
        );
        assert_eq!(render("{{ $value }} / {{ .Value }}", 2.5), "2.5 / 2.5");
        assert_eq!(
            render("{{ $externalLabels.cluster }} {{ $externalURL }}", 0.0),
            "eu http://cairn"
        );
        assert_eq!(render("{{ $labels.nope }}", 0.0), "<no value>");
        assert_eq!(render("{{ $value | humanize }}", 1234567.0), "1.235M");
        assert_eq!(
            render("{{ $x := $labels.job | toUpper }}[{{ $x }}]", 0.0),
            "[API]"
        );
        assert_eq!(render("{{ printf \"%.2f%%\" $value }}", 12.345), "12.35%");
        assert_eq!(
            render("{{ if gt $value 10.0 }}high{{ else }}low{{ end }}", 11.0),
            "high"
        );
        assert_eq!(
            render(
                "{{ if eq $labels.job \"x\" }}x{{ else }}not x{{ end }}",
                0.0
            ),
            "not x"
        );
        assert_eq!(render("a {{- /* note */ -}} b", 0.0), "ab");
        assert_eq!(
            render("{{ reReplaceAll \":.*\" \"\" $labels.instance }}", 0.0),
            "host"
        );
        assert_eq!(render("{{ title \"hello world\" }}", 0.0), "Hello World");
        assert_eq!(render("{{ query \"sum(up)\" | first | value }}", 0.0), "3");
        assert_eq!(
            render("{{ \"sum(up)\" | query | first | label \"job\" }}", 0.0),
            "x"
        );
        assert_eq!(
            render("{{ $s := query \"sum(up)\" | first }}{{ $s.Value }}", 0.0),
            "3"
        );
        let t = Template::parse("{{ query \"a\" | first | value }} {{ if query \"b\" }}{{ end }}")
            .unwrap();
        assert_eq!(t.queries(), ["a", "b"]);
    }

    #[test]
    fn errors_are_reported() {
        for bad in [
            "{{ $labels.job ",
            "{{ nosuch 1 }}",
            "{{ end }}",
            "{{ if 1 }}x",
            "{{ 1 2 }}x",
        ] {
            let parsed = Template::parse(bad);
            let rendered = parsed.as_ref().map(|t| {
                t.render(&TemplateData {
                    labels: &BTreeMap::new(),
                    external_labels: &BTreeMap::new(),
                    external_url: "",
                    value: 0.0,
                    queries: &HashMap::new(),
                })
            });
            assert!(
                parsed.is_err() || rendered.is_ok_and(|r| r.is_err()),
                "{bad} should fail"
            );
        }
        let deep = format!("{{{{ {}1{} }}}}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(Template::parse(&deep).unwrap_err().contains("nested"));
        let deep_if = "{{ if 1 }}".repeat(100_000);
        assert!(Template::parse(&deep_if).unwrap_err().contains("nested"));
        assert!(
            expand(
                "{{ $nope }}",
                &TemplateData {
                    labels: &BTreeMap::new(),
                    external_labels: &BTreeMap::new(),
                    external_url: "",
                    value: 0.0,
                    queries: &HashMap::new(),
                }
            )
            .unwrap_err()
            .contains("$nope")
        );
    }
}
