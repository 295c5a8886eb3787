//! Drain, the online log clusterer of He et al., "Drain: An Online Log
//! Parsing Approach with Fixed Depth Tree" (ICWS 2017), written from the
//! paper, with the parameters Loki's pattern ingester uses so Cairn's
//! patterns read like Loki's.
//!
//! A line's tokens walk a tree of fixed depth: the first layer by token
//! count, then one layer per leading token (tokens holding a digit, and
//! tokens past a node's `max_children`, go down the `<_>` branch). The leaf
//! holds the clusters of that prefix; the line joins the most similar one
//! (share of positions with the same token, placeholder positions not
//! counted, ties to the more general template) when that share reaches
//! `similarity`, and the positions where it differs become `<_>`;
//! otherwise it starts a cluster of its own. Past `max_clusters` the least
//! recently matched cluster is evicted, with its counts.
//!
//! Cost per line is bounded: tokenizing is linear in the line (at most
//! 3000 bytes), the walk is at most `prefix_tokens` steps over at most
//! `max_children` children, and the leaf scan at most `max_clusters`
//! templates of at most `max_tokens` tokens.

use std::collections::{BTreeMap, HashMap};

use super::tokenize::{LineFormat, PLACEHOLDER, Tokenizer, Tokens};

/// Drain's parameters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DrainConfig {
    /// Leading tokens that choose the leaf: Loki's tree depth 30 less the
    /// root, token-count and leaf layers.
    pub(crate) prefix_tokens: usize,
    /// Least share of equal tokens for a line to join a cluster.
    pub(crate) similarity: f64,
    /// Children of a tree node before further tokens share `<_>`.
    pub(crate) max_children: usize,
    /// Clusters kept; the least recently matched is evicted past it.
    pub(crate) max_clusters: usize,
    /// Lines with fewer tokens are not clustered.
    pub(crate) min_tokens: usize,
    /// Lines with more tokens are not clustered.
    pub(crate) max_tokens: usize,
}

impl Default for DrainConfig {
    /// Loki's pattern ingester's values.
    fn default() -> Self {
        Self {
            prefix_tokens: 27,
            similarity: 0.3,
            max_children: 15,
            max_clusters: 300,
            min_tokens: 4,
            max_tokens: 80,
        }
    }
}

/// A node of the prefix tree.
#[derive(Debug, Default)]
struct Node {
    /// Children by token (few, so a scan beats a map).
    children: Vec<(Box<str>, Node)>,
    /// Clusters of a leaf (some may have been evicted since).
    clusters: Vec<u64>,
}

impl Node {
    fn child(&self, token: &str) -> Option<&Node> {
        self.children
            .iter()
            .find(|(k, _)| **k == *token)
            .map(|(_, n)| n)
    }

    fn child_or_insert(&mut self, token: &str) -> &mut Node {
        let i = match self.children.iter().position(|(k, _)| **k == *token) {
            Some(i) => i,
            None => {
                self.children.push((token.into(), Node::default()));
                self.children.len() - 1
            }
        };
        &mut self.children[i].1
    }
}

/// One cluster: its template and how many lines it took, per time bucket.
#[derive(Debug)]
struct Cluster {
    template: Tokens,
    /// Training tick of the last line it took (for eviction).
    last_used: u64,
    /// Lines per time bucket.
    counts: BTreeMap<i64, u64>,
}

/// A Drain clusterer over the lines of one format.
#[derive(Debug)]
pub(crate) struct Drain {
    cfg: DrainConfig,
    tokenizer: Tokenizer,
    /// First layer: trees by token count.
    by_length: HashMap<usize, Node>,
    clusters: HashMap<u64, Cluster>,
    next_id: u64,
    /// Lines trained so far (the eviction clock).
    tick: u64,
    /// The current line's tokens, its buffers reused line after line.
    scratch: Tokens,
}

impl Drain {
    /// An empty clusterer for lines of `format`.
    pub(crate) fn new(cfg: DrainConfig, format: LineFormat) -> Self {
        Self {
            cfg,
            tokenizer: Tokenizer::new(format, cfg.max_tokens),
            by_length: HashMap::new(),
            clusters: HashMap::new(),
            next_id: 0,
            tick: 0,
            scratch: Tokens::default(),
        }
    }

    /// Clusters `line`, counting it in time bucket `bucket`; false when the
    /// line is not clustered (see [`Tokenizer::tokenize_into`], and fewer than
    /// `min_tokens` tokens).
    pub(crate) fn train(&mut self, line: &str, bucket: i64) -> bool {
        let mut tokens = std::mem::take(&mut self.scratch);
        let clustered = self.tokenizer.tokenize_into(line, &mut tokens)
            && tokens.tokens.len() >= self.cfg.min_tokens;
        if clustered {
            self.tick += 1;
            let id = match self.best_match(&tokens.tokens) {
                Some(id) => id,
                None => self.add_cluster(tokens.clone()),
            };
            if let Some(c) = self.clusters.get_mut(&id) {
                for (t, l) in c.template.tokens.iter_mut().zip(&tokens.tokens) {
                    if t != l && t != PLACEHOLDER {
                        *t = PLACEHOLDER.to_string();
                    }
                }
                c.last_used = self.tick;
                *c.counts.entry(bucket).or_default() += 1;
            }
        }
        self.scratch = tokens;
        clustered
    }

    /// Each cluster's pattern and its lines per time bucket.
    pub(crate) fn patterns(&self) -> impl Iterator<Item = (String, &BTreeMap<i64, u64>)> {
        self.clusters
            .values()
            .map(|c| (self.tokenizer.join(&c.template), &c.counts))
    }

    /// How many leading tokens choose the leaf for a line of `n` tokens.
    fn prefix_len(&self, n: usize) -> usize {
        self.cfg.prefix_tokens.min(n.saturating_sub(1))
    }

    /// The most similar cluster in the line's leaf, if similar enough.
    fn best_match(&self, tokens: &[String]) -> Option<u64> {
        let mut node = self.by_length.get(&tokens.len())?;
        for t in &tokens[..self.prefix_len(tokens.len())] {
            node = node.child(t).or_else(|| node.child(PLACEHOLDER))?;
        }
        let mut best: Option<(f64, usize, u64)> = None;
        for id in &node.clusters {
            let Some(c) = self.clusters.get(id) else {
                continue;
            };
            let (mut same, mut params) = (0, 0);
            for (t, l) in c.template.tokens.iter().zip(tokens) {
                if t == PLACEHOLDER {
                    params += 1;
                } else if t == l {
                    same += 1;
                }
            }
            let sim = same as f64 / tokens.len() as f64;
            if best.is_none_or(|(s, p, _)| sim > s || (sim == s && params > p)) {
                best = Some((sim, params, *id));
            }
        }
        best.filter(|(sim, ..)| *sim >= self.cfg.similarity)
            .map(|(.., id)| id)
    }

    /// Starts a cluster from `template`, evicting the least recently used
    /// one when full, and files it in the tree.
    fn add_cluster(&mut self, template: Tokens) -> u64 {
        if self.clusters.len() >= self.cfg.max_clusters
            && let Some(oldest) = self
                .clusters
                .iter()
                .min_by_key(|(_, c)| c.last_used)
                .map(|(id, _)| *id)
        {
            self.clusters.remove(&oldest);
        }
        let id = self.next_id;
        self.next_id += 1;
        let n = template.tokens.len();
        let prefix = self.prefix_len(n);
        let max_children = self.cfg.max_children;
        let mut node = self.by_length.entry(n).or_default();
        for t in &template.tokens[..prefix] {
            let key = if node.child(t).is_some() {
                t.as_str()
            } else if t.chars().any(char::is_numeric) {
                PLACEHOLDER
            } else {
                // Room for the token, keeping a slot for `<_>`.
                let reserved = usize::from(node.child(PLACEHOLDER).is_none());
                if node.children.len() + reserved < max_children {
                    t.as_str()
                } else {
                    PLACEHOLDER
                }
            };
            node = node.child_or_insert(key);
        }
        let live = &self.clusters;
        node.clusters.retain(|c| live.contains_key(c));
        node.clusters.push(id);
        self.clusters.insert(
            id,
            Cluster {
                template,
                last_used: self.tick,
                counts: BTreeMap::new(),
            },
        );
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain() -> Drain {
        Drain::new(DrainConfig::default(), LineFormat::Plain)
    }

    /// Patterns and their total lines, most lines first.
    fn totals(d: &Drain) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = d.patterns().map(|(p, c)| (p, c.values().sum())).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }

    #[test]
    fn templated_lines_collapse_into_one_pattern() {
        let mut d = drain();
        for i in 0..20 {
            let line = format!("user {i} logged in from 10.0.{}.{}", i % 3, i * 7);
            assert!(d.train(&line, 0));
        }
        assert_eq!(
            totals(&d),
            [("user <_> logged in from <_>".to_string(), 20)]
        );
    }

    #[test]
    fn differing_lines_stay_apart_and_counts_add_up() {
        let mut d = drain();
        let mut lines = Vec::new();
        for i in 0..30 {
            lines.push(format!("GET /api/users/{i} 200 {}ms", i * 3 + 1));
            if i % 2 == 0 {
                lines.push(format!("connection to db-{} refused", i % 4));
            }
        }
        lines.push("worker pool resized to eight threads".to_string());
        for (i, l) in lines.iter().enumerate() {
            assert!(d.train(l, (i % 3) as i64));
        }
        let got = totals(&d);
        assert_eq!(
            got,
            [
                ("GET <_> 200 <_>".to_string(), 30),
                ("connection to <_> refused".to_string(), 15),
                ("worker pool resized to eight threads".to_string(), 1),
            ]
        );
        let total: u64 = got.iter().map(|(_, n)| n).sum();
        assert_eq!(total, lines.len() as u64);
    }

    #[test]
    fn samples_are_counted_per_bucket() {
        let mut d = drain();
        for (i, bucket) in [10, 10, 20, 40].into_iter().enumerate() {
            d.train(&format!("job {i} finished in {i}s"), bucket);
        }
        let (_, counts) = d.patterns().next().unwrap();
        assert_eq!(
            counts.iter().map(|(b, n)| (*b, *n)).collect::<Vec<_>>(),
            [(10, 2), (20, 1), (40, 1)]
        );
    }

    #[test]
    fn short_long_and_unrelated_lines() {
        let mut d = drain();
        assert!(!d.train("too short", 0));
        assert!(!d.train(&"tok ".repeat(81), 0));
        assert!(d.train("alpha beta gamma delta", 0));
        assert!(d.train("one two three four", 0));
        assert_eq!(d.patterns().count(), 2, "no shared token: apart");
    }

    #[test]
    fn clusters_are_capped_evicting_the_least_recently_used() {
        let cfg = DrainConfig {
            max_clusters: 3,
            ..DrainConfig::default()
        };
        let mut d = Drain::new(cfg, LineFormat::Plain);
        let words = ["alpha", "bravo", "charlie", "delta", "echo"];
        d.train("alpha alpha alpha alpha", 0);
        for w in &words[1..] {
            d.train(&format!("{w} {w} {w} {w}"), 0);
            d.train("alpha alpha alpha alpha", 0);
        }
        let got = totals(&d);
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0], ("alpha alpha alpha alpha".to_string(), 5));
    }

    #[test]
    fn wide_nodes_share_the_placeholder_branch() {
        let mut d = drain();
        // 40 distinct first words: past `max_children` they share `<_>`,
        // and every line is still clustered and counted.
        for i in 0..40u8 {
            let w: String = (0..5).map(|k| char::from(b'a' + (i + k) % 26)).collect();
            assert!(d.train(&format!("{w} request handled ok"), 0));
        }
        let total: u64 = d.patterns().map(|(_, c)| c.values().sum::<u64>()).sum();
        assert_eq!(total, 40);
        let root = &d.by_length[&4];
        assert!(root.children.len() <= DrainConfig::default().max_children);
    }
}
