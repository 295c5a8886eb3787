//! `--target`: which services this process runs. `all` (the default) is the
//! single process; in distributed mode each process runs one service or a
//! comma list of them (`--target distributor,querier`).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One of Cairn's services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    /// The write path's front door.
    Distributor,
    /// Heads, WAL, block upload; answers queries for recent data.
    Ingester,
    /// PromQL, LogQL, TraceQL and their HTTP APIs.
    Querier,
    /// Merges blocks, applies retention, keeps the bucket index.
    Compactor,
    /// Recording and alerting rules.
    Ruler,
}

impl Service {
    const ALL: [Service; 5] = [
        Service::Distributor,
        Service::Ingester,
        Service::Querier,
        Service::Compactor,
        Service::Ruler,
    ];

    fn name(self) -> &'static str {
        match self {
            Service::Distributor => "distributor",
            Service::Ingester => "ingester",
            Service::Querier => "querier",
            Service::Compactor => "compactor",
            Service::Ruler => "ruler",
        }
    }
}

/// The services a process runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets(BTreeSet<Service>);

impl Default for Targets {
    fn default() -> Self {
        Self(Service::ALL.into_iter().collect())
    }
}

impl Targets {
    /// Whether `s` runs here.
    pub fn runs(&self, s: Service) -> bool {
        self.0.contains(&s)
    }

    /// Whether every service runs here (the single process).
    pub fn is_all(&self) -> bool {
        self.0.len() == Service::ALL.len()
    }
}

/// A `--target` value that names no service.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown target {0:?}: expected all, distributor, ingester, querier, compactor or ruler (or a comma list)"
)]
pub struct UnknownTarget(String);

impl FromStr for Targets {
    type Err = UnknownTarget;

    fn from_str(s: &str) -> Result<Self, UnknownTarget> {
        let mut set = BTreeSet::new();
        for part in s.split(',').map(str::trim) {
            if part == "all" {
                set.extend(Service::ALL);
                continue;
            }
            let service = Service::ALL
                .into_iter()
                .find(|sv| sv.name() == part)
                .ok_or_else(|| UnknownTarget(part.to_string()))?;
            set.insert(service);
        }
        Ok(Self(set))
    }
}

impl fmt::Display for Targets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            return f.write_str("all");
        }
        let names: Vec<&str> = self.0.iter().map(|s| s.name()).collect();
        f.write_str(&names.join(","))
    }
}

impl Serialize for Targets {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Targets {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_and_print() {
        let t: Targets = "ingester".parse().unwrap();
        assert!(t.runs(Service::Ingester) && !t.runs(Service::Querier));
        let t: Targets = "distributor, querier".parse().unwrap();
        assert_eq!(t.to_string(), "distributor,querier");
        assert!("all".parse::<Targets>().unwrap().is_all());
        assert_eq!(Targets::default().to_string(), "all");
        let err = "ingestor".parse::<Targets>().unwrap_err().to_string();
        assert!(err.contains("ingestor"), "{err}");
    }
}
