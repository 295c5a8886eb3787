//! The checked-in list of evals known to fail (`known_failures.txt`, one
//! `file:line reason` a line, `#` comments). The suite fails when an eval
//! not on the list fails, and when a listed eval passes, so the list stays
//! honest. `CONFORMANCE_BLESS=1` rewrites it from the current results.

use std::collections::BTreeMap;

/// Where the list lives.
pub const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/querier/conformance/known_failures.txt"
);

/// `file:line` → reason.
pub type List = BTreeMap<String, String>;

/// Reads the list; a missing file is an empty list.
pub fn load() -> List {
    let text = std::fs::read_to_string(PATH).unwrap_or_default();
    parse(&text)
}

fn parse(text: &str) -> List {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (key, reason) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            (key.to_string(), reason.trim().to_string())
        })
        .collect()
}

/// Writes `list` with a header explaining the format.
pub fn store(list: &List) -> std::io::Result<()> {
    let mut out = String::from(
        "# PromQL conformance evals known to fail: `file:line reason`.\n\
         # Regenerate with CONFORMANCE_BLESS=1 cargo test -p cairn-querier --test querier conformance\n",
    );
    // Sort by file, then numerically by line.
    let mut keys: Vec<(&str, usize, &String)> = list
        .iter()
        .map(|(k, r)| {
            let (file, line) = k.rsplit_once(':').unwrap_or((k, "0"));
            (file, line.parse().unwrap_or(0), r)
        })
        .collect();
    keys.sort();
    for (file, line, reason) in keys {
        out.push_str(&format!("{file}:{line} {reason}\n"));
    }
    std::fs::write(PATH, out)
}

#[test]
fn parses_keys_and_reasons() {
    let l = parse("# c\nfoo.test:12 native histograms: x\n\nbar.test:3\n");
    assert_eq!(l["foo.test:12"], "native histograms: x");
    assert_eq!(l["bar.test:3"], "");
}
