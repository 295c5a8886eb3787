//! Finding the addresses to probe: a static list plus every address a DNS
//! name (a Kubernetes headless service) resolves to, resolved afresh each
//! round so scaled or rescheduled pods are picked up.

use tracing::warn;

/// The sorted, distinct `host:port` addresses of `static_list` and of every
/// A/AAAA record of `dns` (`host:port`; empty = none). A failed lookup is
/// logged and contributes nothing this round.
pub(super) async fn discover(static_list: &[String], dns: &str) -> Vec<String> {
    let mut addrs = static_list.to_vec();
    if !dns.is_empty() {
        match tokio::net::lookup_host(dns).await {
            Ok(found) => addrs.extend(found.map(|a| a.to_string())),
            Err(error) => warn!(%error, name = dns, "ring: DNS lookup failed"),
        }
    }
    addrs.sort_unstable();
    addrs.dedup();
    addrs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn static_and_dns_addresses_merge() {
        let addrs = discover(&["b:1".into(), "127.0.0.1:7".into()], "localhost:7").await;
        assert!(addrs.contains(&"b:1".to_string()), "{addrs:?}");
        assert_eq!(addrs.iter().filter(|a| *a == "127.0.0.1:7").count(), 1);
        let unresolvable = discover(&[], "no-such-host.invalid:1").await;
        assert!(unresolvable.is_empty());
    }
}
