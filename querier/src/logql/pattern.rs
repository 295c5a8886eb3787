//! Loki's `pattern` parser and `|>` line filter: literal text with `<name>`
//! captures and `<_>` placeholders, each capture ending where the next
//! literal starts.

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Literal(String),
    /// A capture; `None` for `<_>`.
    Capture(Option<String>),
}

impl Pattern {
    /// Compiles a `pattern` stage's expression: it needs a named capture
    /// and no two captures side by side.
    pub fn parse(text: &str) -> Result<Self, String> {
        let p = Self::parse_filter(text)?;
        if !p.nodes.iter().any(|n| matches!(n, Node::Capture(Some(_)))) {
            return Err("at least one capture is required".into());
        }
        Ok(p)
    }

    /// Compiles a `|>` filter's pattern (named captures optional).
    pub fn parse_filter(text: &str) -> Result<Self, String> {
        let mut nodes = Vec::new();
        let mut rest = text;
        let mut literal = String::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('<')
                && let Some(end) = after.find('>')
            {
                let name = &after[..end];
                let valid = !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !name.starts_with(|c: char| c.is_ascii_digit());
                if valid {
                    if !literal.is_empty() {
                        nodes.push(Node::Literal(std::mem::take(&mut literal)));
                    }
                    if matches!(nodes.last(), Some(Node::Capture(_))) {
                        return Err(format!("consecutive capture found at {name:?}"));
                    }
                    nodes.push(Node::Capture((name != "_").then(|| name.to_string())));
                    rest = &after[end + 1..];
                    continue;
                }
            }
            let mut chars = rest.chars();
            if let Some(c) = chars.next() {
                literal.push(c);
            }
            rest = chars.as_str();
        }
        if !literal.is_empty() {
            nodes.push(Node::Literal(literal));
        }
        if nodes.is_empty() {
            return Err("empty pattern".into());
        }
        Ok(Self { nodes })
    }

    /// The named captures of `line`, or `None` when it does not match.
    pub fn captures<'l>(&self, line: &'l str) -> Option<Vec<(&str, &'l str)>> {
        let mut out = Vec::new();
        let mut rest = line;
        let mut i = 0;
        while i < self.nodes.len() {
            match &self.nodes[i] {
                Node::Literal(lit) => {
                    rest = rest.strip_prefix(lit.as_str())?;
                    i += 1;
                }
                Node::Capture(name) => {
                    let value = match self.nodes.get(i + 1) {
                        Some(Node::Literal(lit)) => {
                            let end = rest.find(lit.as_str())?;
                            let v = &rest[..end];
                            rest = &rest[end..];
                            v
                        }
                        _ => std::mem::take(&mut rest),
                    };
                    if let Some(n) = name {
                        out.push((n.as_str(), value));
                    }
                    i += 1;
                }
            }
        }
        Some(out)
    }

    /// True when `line` matches.
    pub fn matches(&self, line: &str) -> bool {
        self.captures(line).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_between_literals() {
        let p = Pattern::parse("<ip> - <_> \"<method> <path> <_>\" <status>").unwrap();
        let got = p
            .captures("1.2.3.4 - - \"GET /x HTTP/1.1\" 200 12")
            .unwrap();
        assert_eq!(
            got,
            vec![
                ("ip", "1.2.3.4"),
                ("method", "GET"),
                ("path", "/x"),
                ("status", "200 12")
            ]
        );
        assert!(p.captures("nothing here").is_none());
    }

    #[test]
    fn rules() {
        assert!(Pattern::parse("<a><b>").is_err());
        assert!(Pattern::parse("<_> x").is_err());
        assert!(Pattern::parse_filter("<_> x <_>").unwrap().matches("a x b"));
    }
}
