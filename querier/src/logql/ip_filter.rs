//! `ip("…")` in line filters (`|= ip("10.0.0.0/8")`) and label filters
//! (`addr = ip("10.0.0.1-10.0.0.9")`): does a text hold an IPv4 or IPv6
//! address within a single address, a CIDR prefix or an inclusive range.
//!
//! As in Loki, a line is scanned for runs that look like addresses (a digit
//! and a dot within four bytes for IPv4, hex digits and a colon for IPv6),
//! each run is read as an address, and the line matches when one of them
//! falls in the range.

use std::net::IpAddr;

/// The addresses an `ip("…")` filter matches, with its pattern as written.
#[derive(Debug, Clone, PartialEq)]
pub struct IpRange {
    pattern: String,
    bounds: Bounds,
}

/// What `ip("…")` accepts.
#[derive(Debug, Clone, PartialEq)]
enum Bounds {
    /// One address.
    Addr(IpAddr),
    /// `addr/bits`.
    Prefix(IpAddr, u8),
    /// `from-to`, both ends included.
    Range(IpAddr, IpAddr),
}

impl IpRange {
    /// Reads an address, a prefix or a range; the error is Loki's.
    pub(crate) fn parse(pattern: &str) -> Result<Self, String> {
        Ok(Self {
            pattern: pattern.to_string(),
            bounds: Bounds::parse(pattern)?,
        })
    }

    /// True when `text` holds an address in this range.
    pub(crate) fn found_in(&self, text: &str) -> bool {
        self.bounds.found_in(text)
    }
}

impl std::fmt::Display for IpRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.pattern)
    }
}

impl Bounds {
    fn parse(pattern: &str) -> Result<Self, String> {
        let bad = || format!("ip: invalid pattern: {pattern:?}");
        if let Ok(a) = pattern.parse::<IpAddr>() {
            return Ok(Bounds::Addr(a));
        }
        if let Some((addr, bits)) = pattern.split_once('/') {
            let addr: IpAddr = addr.parse().map_err(|_| bad())?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let bits: u8 = bits
                .parse()
                .ok()
                .filter(|b| *b <= max && !bits.starts_with('+'))
                .ok_or_else(bad)?;
            return Ok(Bounds::Prefix(addr, bits));
        }
        if let Some((from, to)) = pattern.split_once('-') {
            let (from, to): (IpAddr, IpAddr) = (
                from.parse().map_err(|_| bad())?,
                to.parse().map_err(|_| bad())?,
            );
            if from.is_ipv4() != to.is_ipv4() || from > to {
                return Err(bad());
            }
            return Ok(Bounds::Range(from, to));
        }
        Err(bad())
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match *self {
            Bounds::Addr(a) => a == ip,
            Bounds::Range(from, to) => from.is_ipv4() == ip.is_ipv4() && from <= ip && ip <= to,
            Bounds::Prefix(net, bits) => match (net, ip) {
                (IpAddr::V4(n), IpAddr::V4(i)) => {
                    let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
                    u32::from(n) & mask == u32::from(i) & mask
                }
                (IpAddr::V6(n), IpAddr::V6(i)) => {
                    let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
                    u128::from(n) & mask == u128::from(i) & mask
                }
                _ => false,
            },
        }
    }

    fn found_in(&self, text: &str) -> bool {
        const V4: &[u8] = b"0123456789.";
        const V6: &[u8] = b"0123456789abcdefABCDEF:.";
        let b = text.as_bytes();
        let at = |i: usize| b.get(i).copied().unwrap_or(0);
        let hex = |c: u8| c.is_ascii_hexdigit();
        let mut i = 0;
        while i < b.len() {
            let v4 = i + 3 < b.len()
                && b[i].is_ascii_digit()
                && (b[i + 1] == b'.' || b[i + 2] == b'.' || b[i + 3] == b'.');
            let v6 = (at(i) == b':' && at(i + 1) == b':' && hex(at(i + 2)))
                || (1..=4).any(|n| (0..n).all(|k| hex(at(i + k))) && at(i + n) == b':');
            let charset = match (v4, v6) {
                (true, _) => V4,
                (false, true) => V6,
                (false, false) => {
                    i += 1;
                    continue;
                }
            };
            let len = b[i..].iter().take_while(|c| charset.contains(c)).count();
            if let Ok(ip) = text[i..i + len].parse::<IpAddr>()
                && self.contains(ip)
            {
                return true;
            }
            i += len + 1;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_prefixes_and_ranges_in_lines() {
        let line = r#"10.0.1.5 - - [14/Nov/2023:22:13:01 +0000] "GET / HTTP/1.1" 200 612"#;
        assert!(IpRange::parse("10.0.1.0/24").unwrap().found_in(line));
        assert!(!IpRange::parse("10.0.2.0/24").unwrap().found_in(line));
        assert!(IpRange::parse("10.0.1.5").unwrap().found_in(line));
        assert!(
            IpRange::parse("10.0.0.250-10.0.1.9")
                .unwrap()
                .found_in(line)
        );
        assert!(!IpRange::parse("10.0.1.6-10.0.1.9").unwrap().found_in(line));
        let v6 = "client=2001:db8::7 port=443";
        assert!(IpRange::parse("2001:db8::/32").unwrap().found_in(v6));
        assert!(!IpRange::parse("10.0.0.0/8").unwrap().found_in(v6));
        assert!(
            !IpRange::parse("::1")
                .unwrap()
                .found_in("no address here 1.2")
        );
    }

    #[test]
    fn bad_patterns_are_refused() {
        for p in [
            "10.0.0",
            "10.0.0.0/33",
            "10.0.0.9-10.0.0.1",
            "::1-10.0.0.1",
            "x",
        ] {
            assert!(IpRange::parse(p).is_err(), "{p}");
        }
    }
}
