//! Template text to nodes: text, actions (pipelines of commands, optionally
//! declaring a variable) and `if`/`else`/`end` blocks. Function names are
//! checked here, so an unknown function is an upload error, not an
//! evaluation error.

use super::functions;

/// A piece of a template.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Text(String),
    /// `{{ pipeline }}` or `{{ $name := pipeline }}`.
    Action {
        declare: Option<String>,
        pipeline: Pipeline,
    },
    If {
        cond: Pipeline,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

/// Commands joined by `|`: each one's result is the next one's last argument.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Pipeline(pub Vec<Vec<Operand>>);

/// One operand of a command.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Operand {
    Str(String),
    Num(f64),
    Bool(bool),
    Func(String),
    /// `$name.a.b` (`$` alone is the empty name: the dot).
    Var(String, Vec<String>),
    /// `.a.b` (`.` alone has an empty path).
    Field(Vec<String>),
    /// `( pipeline )`.
    Sub(Pipeline),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Op(Operand),
    Pipe,
    Open,
    Close,
    Declare,
}

/// Deepest nesting of `{{if}}`s or parentheses: templates are tenant
/// input and parsing recurses.
const MAX_DEPTH: usize = 50;

/// Parses a whole template.
pub(super) fn parse(text: &str) -> Result<Vec<Node>, String> {
    let mut rest = text;
    let (nodes, end) = nodes(&mut rest, 0)?;
    match end {
        Some(kw) => Err(format!("unexpected {{{{{kw}}}}}")),
        None => Ok(nodes),
    }
}

/// Nodes up to the end of input or an `{{else}}`/`{{end}}` (returned).
fn nodes(rest: &mut &str, depth: usize) -> Result<(Vec<Node>, Option<&'static str>), String> {
    if depth > MAX_DEPTH {
        return Err(format!("more than {MAX_DEPTH} nested {{{{if}}}}s"));
    }
    let mut out = Vec::new();
    loop {
        let Some(open) = rest.find("{{") else {
            if !rest.is_empty() {
                out.push(Node::Text(rest.to_string()));
            }
            *rest = "";
            return Ok((out, None));
        };
        let mut text = &rest[..open];
        let mut inner_start = open + 2;
        if rest[inner_start..].starts_with("- ") {
            text = text.trim_end();
            inner_start += 1;
        }
        if !text.is_empty() {
            out.push(Node::Text(text.to_string()));
        }
        let close = find_close(&rest[inner_start..]).ok_or("unclosed action")? + inner_start;
        let mut inner = &rest[inner_start..close];
        let mut after = &rest[close + 2..];
        if let Some(stripped) = inner.strip_suffix(" -") {
            inner = stripped;
            after = after.trim_start();
        }
        *rest = after;
        let inner = inner.trim();
        if inner.starts_with("/*") {
            if !inner.ends_with("*/") {
                return Err("unclosed comment".into());
            }
            continue;
        }
        let (word, tail) = match inner.split_once(char::is_whitespace) {
            Some((w, t)) => (w, t.trim()),
            None => (inner, ""),
        };
        match word {
            "end" if tail.is_empty() => return Ok((out, Some("end"))),
            "else" if tail.is_empty() => return Ok((out, Some("else"))),
            "if" => {
                let cond = pipeline(tail)?;
                let (then, end) = nodes(rest, depth + 1)?;
                let otherwise = match end {
                    Some("else") => match nodes(rest, depth + 1)? {
                        (otherwise, Some("end")) => otherwise,
                        _ => return Err("missing {{end}}".into()),
                    },
                    Some(_) => Vec::new(),
                    None => return Err("missing {{end}}".into()),
                };
                out.push(Node::If {
                    cond,
                    then,
                    otherwise,
                });
            }
            "range" | "with" | "define" | "template" | "block" => {
                return Err(format!("{{{{{word}}}}} is not supported"));
            }
            _ => out.push(action(inner)?),
        }
    }
}

fn action(inner: &str) -> Result<Node, String> {
    let toks = lex(inner)?;
    if let [Tok::Op(Operand::Var(name, path)), Tok::Declare, rest @ ..] = toks.as_slice() {
        if !path.is_empty() {
            return Err("cannot declare a field".into());
        }
        return Ok(Node::Action {
            declare: Some(name.clone()),
            pipeline: pipeline_of(rest)?,
        });
    }
    Ok(Node::Action {
        declare: None,
        pipeline: pipeline_of(&toks)?,
    })
}

fn pipeline(text: &str) -> Result<Pipeline, String> {
    pipeline_of(&lex(text)?)
}

fn pipeline_of(toks: &[Tok]) -> Result<Pipeline, String> {
    let mut pos = 0;
    let p = pipeline_from(toks, &mut pos, 0)?;
    if pos != toks.len() {
        return Err("unexpected token in action".into());
    }
    Ok(p)
}

fn pipeline_from(toks: &[Tok], pos: &mut usize, depth: usize) -> Result<Pipeline, String> {
    if depth > MAX_DEPTH {
        return Err(format!("more than {MAX_DEPTH} nested parentheses"));
    }
    let mut cmds = Vec::new();
    let mut cur = Vec::new();
    while let Some(t) = toks.get(*pos) {
        match t {
            Tok::Close => break,
            Tok::Declare => return Err("unexpected := in action".into()),
            Tok::Pipe => {
                if cur.is_empty() {
                    return Err("missing command before |".into());
                }
                cmds.push(std::mem::take(&mut cur));
                *pos += 1;
            }
            Tok::Open => {
                *pos += 1;
                let sub = pipeline_from(toks, pos, depth + 1)?;
                if toks.get(*pos) != Some(&Tok::Close) {
                    return Err("unclosed (".into());
                }
                *pos += 1;
                cur.push(Operand::Sub(sub));
            }
            Tok::Op(op) => {
                if let Operand::Func(name) = op
                    && !functions::exists(name)
                {
                    return Err(format!("function {name:?} not defined"));
                }
                cur.push(op.clone());
                *pos += 1;
            }
        }
    }
    if cur.is_empty() {
        return Err("missing value for command".into());
    }
    cmds.push(cur);
    Ok(Pipeline(cmds))
}

/// Appends the string literals `query` is called with in `nodes`
/// (`query "…"` or `"…" | query`).
pub(super) fn queries(nodes: &[Node], out: &mut Vec<String>) {
    for n in nodes {
        match n {
            Node::Text(_) => {}
            Node::Action { pipeline, .. } => pipeline_queries(pipeline, out),
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                pipeline_queries(cond, out);
                queries(then, out);
                queries(otherwise, out);
            }
        }
    }
}

fn pipeline_queries(p: &Pipeline, out: &mut Vec<String>) {
    let is_query = |op: Option<&Operand>| matches!(op, Some(Operand::Func(f)) if f == "query");
    for (i, cmd) in p.0.iter().enumerate() {
        if is_query(cmd.first()) {
            match (cmd.get(1), i.checked_sub(1).and_then(|j| p.0.get(j))) {
                (Some(Operand::Str(q)), _) => out.push(q.clone()),
                (None, Some(prev)) => {
                    if let [Operand::Str(q)] = prev.as_slice() {
                        out.push(q.clone());
                    }
                }
                _ => {}
            }
        }
        for op in cmd {
            if let Operand::Sub(sub) = op {
                pipeline_queries(sub, out);
            }
        }
    }
}

/// Where the action's closing `}}` is, skipping string literals.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'`') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    if q == b'"' && b[i] == b'\\' {
                        i += 1;
                    }
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

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `.a.b.c` starting at `chars[i] == '.'`: the names and the next index.
fn field_path(chars: &[char], mut i: usize) -> (Vec<String>, usize) {
    let mut path = Vec::new();
    while chars.get(i) == Some(&'.') {
        let start = i + 1;
        let mut j = start;
        while chars.get(j).is_some_and(|&c| is_ident(c)) {
            j += 1;
        }
        if j == start {
            break;
        }
        path.push(chars[start..j].iter().collect());
        i = j;
    }
    (path, i)
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            c if c.is_whitespace() => i += 1,
            '|' => {
                out.push(Tok::Pipe);
                i += 1;
            }
            '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            ')' => {
                out.push(Tok::Close);
                i += 1;
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                out.push(Tok::Declare);
                i += 2;
            }
            '"' | '`' => {
                let mut j = i + 1;
                let mut v = String::new();
                while let Some(&d) = chars.get(j) {
                    if d == c {
                        break;
                    }
                    if c == '"' && d == '\\' {
                        j += 1;
                        v.push(match chars.get(j) {
                            Some('n') => '\n',
                            Some('t') => '\t',
                            Some(&other) => other,
                            None => break,
                        });
                    } else {
                        v.push(d);
                    }
                    j += 1;
                }
                if j >= chars.len() {
                    return Err("unterminated string".into());
                }
                out.push(Tok::Op(Operand::Str(v)));
                i = j + 1;
            }
            '$' => {
                let mut j = i + 1;
                while chars.get(j).is_some_and(|&c| is_ident(c)) {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                let (path, next) = field_path(&chars, j);
                out.push(Tok::Op(Operand::Var(name, path)));
                i = next;
            }
            '.' => {
                let (path, next) = field_path(&chars, i);
                out.push(Tok::Op(Operand::Field(path)));
                i = if next == i { i + 1 } else { next };
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' => {
                let mut j = i + 1;
                while chars
                    .get(j)
                    .is_some_and(|&c| c.is_ascii_alphanumeric() || c == '.')
                {
                    j += 1;
                }
                let text: String = chars[i..j].iter().collect();
                let n = text
                    .parse()
                    .map_err(|_| format!("bad number syntax: {text:?}"))?;
                out.push(Tok::Op(Operand::Num(n)));
                i = j;
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut j = i;
                while chars.get(j).is_some_and(|&c| is_ident(c)) {
                    j += 1;
                }
                let name: String = chars[i..j].iter().collect();
                out.push(Tok::Op(match name.as_str() {
                    "true" => Operand::Bool(true),
                    "false" => Operand::Bool(false),
                    _ => Operand::Func(name),
                }));
                i = j;
            }
            other => return Err(format!("unexpected {other:?} in action")),
        }
    }
    Ok(out)
}
