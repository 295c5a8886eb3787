//! IPv4/IPv6 networks in CIDR notation (`10.0.0.0/8`, `::1/128`), for
//! `allowed_source_cidrs` and `server.trusted_proxies`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A network: an address and a prefix length. A bare address is a /32 (/128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a CIDR string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CIDR {0:?}: expected an address with an optional /prefix, e.g. 10.0.0.0/8")]
pub struct CidrError(String);

impl Cidr {
    /// Whether `ip` is inside this network. An IPv4-mapped IPv6 address
    /// (`::ffff:10.1.2.3`, what dual-stack sockets report) counts as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                same_prefix(u32::from(net).into(), u32::from(ip).into(), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                same_prefix(u128::from(net), u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

/// The IPv4 address inside an IPv4-mapped IPv6 address, else `ip`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether the top `prefix` of `bits` bits of `a` and `b` agree.
fn same_prefix(a: u128, b: u128, bits: u32, prefix: u8) -> bool {
    let host_bits = bits - u32::from(prefix);
    a.checked_shr(host_bits).unwrap_or(0) == b.checked_shr(host_bits).unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || CidrError(s.to_string());
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr = canonical(IpAddr::from_str(addr).map_err(|_| err())?);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(err)?,
            None => max,
        };
        Ok(Self { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn matches_inside_and_not_outside() {
        let net: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("10.255.1.2")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(net.contains(ip("::ffff:10.1.2.3")), "v4-mapped v6");
        assert!(!net.contains(ip("::1")));
        let host: Cidr = "127.0.0.1/32".parse().unwrap();
        assert!(host.contains(ip("127.0.0.1")));
        assert!(!host.contains(ip("127.0.0.2")));
        let bare: Cidr = "127.0.0.1".parse().unwrap();
        assert_eq!(bare, host);
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("fe80::1")));
        let odd: Cidr = "192.168.1.77/26".parse().unwrap();
        assert!(odd.contains(ip("192.168.1.64")));
        assert!(!odd.contains(ip("192.168.1.128")));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0/8",
            "::/129",
            "x/8",
            "10.0.0.0/-1",
            "10.0.0.0/",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn round_trips_through_yaml() {
        let nets: Vec<Cidr> = serde_saphyr::from_str("[\"10.0.0.0/8\", \"::1\"]").unwrap();
        assert_eq!(nets[1].to_string(), "::1/128");
        assert!(serde_saphyr::from_str::<Vec<Cidr>>("[\"nope\"]").is_err());
    }
}
