//! The client's address: the TCP peer, or — only when the peer is a trusted
//! proxy — the address that proxy reports in `X-Forwarded-For`.

use std::net::IpAddr;

use axum::http::HeaderMap;

use super::cidr::Cidr;

/// The header proxies append the address they received a request from to.
pub const FORWARDED_FOR: &str = "x-forwarded-for";

/// The address a request really comes from. `X-Forwarded-For` is read right
/// to left while each hop is a trusted proxy; the first untrusted hop is the
/// client. A peer outside `trusted_proxies` is the client, whatever it claims.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[Cidr]) -> IpAddr {
    let trusted = |ip: IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all(FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        // An unparsable hop ends the chain: it cannot be checked, so the
        // last trusted proxy's peer is the best we know.
        let Ok(ip) = hop.parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !trusted(ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(FORWARDED_FOR, HeaderValue::from_static(v));
        h
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_it_claims() {
        let proxies: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        let h = xff("127.0.0.1");
        assert_eq!(client_ip(ip("192.0.2.7"), &h, &proxies), ip("192.0.2.7"));
        assert_eq!(client_ip(ip("192.0.2.7"), &h, &[]), ip("192.0.2.7"));
    }

    #[test]
    fn trusted_proxy_chain_is_walked_right_to_left() {
        let proxies: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        // Client 203.0.113.5 claims to be 127.0.0.1; two proxies appended.
        let h = xff("127.0.0.1, 203.0.113.5, 10.1.1.1");
        assert_eq!(client_ip(ip("10.2.2.2"), &h, &proxies), ip("203.0.113.5"));
        // Every hop trusted: the leftmost is the client.
        let h = xff("10.9.9.9, 10.1.1.1");
        assert_eq!(client_ip(ip("10.2.2.2"), &h, &proxies), ip("10.9.9.9"));
        // No header: the proxy itself.
        assert_eq!(
            client_ip(ip("10.2.2.2"), &HeaderMap::new(), &proxies),
            ip("10.2.2.2")
        );
        // Garbage stops the walk at the last good hop.
        let h = xff("203.0.113.5, garbage");
        assert_eq!(client_ip(ip("10.2.2.2"), &h, &proxies), ip("10.2.2.2"));
    }

    #[test]
    fn several_header_lines_are_one_list() {
        let proxies: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut h = HeaderMap::new();
        h.append(FORWARDED_FOR, HeaderValue::from_static("198.51.100.1"));
        h.append(FORWARDED_FOR, HeaderValue::from_static("10.3.3.3"));
        assert_eq!(client_ip(ip("10.2.2.2"), &h, &proxies), ip("198.51.100.1"));
    }
}
