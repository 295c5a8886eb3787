//! Time zones for `toDateInZone`: the system's IANA database
//! (`/usr/share/zoneinfo`, TZif files) read as Go's `time.LoadLocation`
//! reads it, and a local wall-clock time turned into an instant as Go's
//! `time.Date` does (a time skipped or repeated by a clock change takes the
//! offset Go gives it).
//!
//! Zones are loaded once and kept (at most [`MAX_ZONES`]); a name that is
//! not a zone in the database is `None`, as Loki then falls back to UTC.
//! After the file's last transition the last offset stays in force: the
//! database's files on Debian list transitions up to 2037.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Where the zone files are.
const ZONEINFO: &str = "/usr/share/zoneinfo";

/// Most zones kept loaded; further names are read each time.
const MAX_ZONES: usize = 64;

/// A zone's offsets from UTC over time.
#[derive(Debug)]
pub(crate) struct Zone {
    /// Instants (Unix seconds) at which the offset changes, ascending.
    transitions: Vec<i64>,
    /// The offset (seconds east of UTC) in force from each transition.
    offsets: Vec<i32>,
    /// The offset before the first transition.
    initial: i32,
}

impl Zone {
    /// The zone named `name` (`Europe/Berlin`), `None` when the database
    /// has no such zone. `UTC` and the empty name are UTC.
    pub(crate) fn named(name: &str) -> Option<Arc<Zone>> {
        static ZONES: OnceLock<Mutex<HashMap<String, Option<Arc<Zone>>>>> = OnceLock::new();
        let zones = ZONES.get_or_init(Mutex::default);
        if let Some(z) = zones.lock().ok()?.get(name) {
            return z.clone();
        }
        let zone = Self::load(name).map(Arc::new);
        if let Ok(mut zones) = zones.lock()
            && zones.len() < MAX_ZONES
        {
            zones.insert(name.to_string(), zone.clone());
        }
        zone
    }

    fn load(name: &str) -> Option<Zone> {
        if name.is_empty() || name == "UTC" {
            return Some(Zone {
                transitions: Vec::new(),
                offsets: Vec::new(),
                initial: 0,
            });
        }
        // Go refuses names that could leave the database's directory.
        let safe = !name.starts_with('/')
            && name
                .split('/')
                .all(|p| !p.is_empty() && p != ".." && p != ".")
            && name.len() < 256;
        if !safe {
            return None;
        }
        let bytes = std::fs::read(format!("{ZONEINFO}/{name}")).ok()?;
        parse_tzif(&bytes)
    }

    /// The offset in force at instant `utc`, and the instants its period
    /// starts and ends.
    fn lookup(&self, utc: i64) -> (i32, i64, i64) {
        let i = self.transitions.partition_point(|t| *t <= utc);
        let end = self.transitions.get(i).copied().unwrap_or(i64::MAX);
        match i.checked_sub(1) {
            Some(k) => (self.offsets[k], self.transitions[k], end),
            None => (self.initial, i64::MIN, end),
        }
    }

    /// The instant at which the clocks of this zone show `local` (seconds
    /// of a wall-clock time counted as if it were UTC), as Go's
    /// `time.Date` decides it around clock changes.
    pub(crate) fn to_utc(&self, local: i64) -> i64 {
        let (mut offset, start, end) = self.lookup(local);
        if offset != 0 {
            let utc = local - i64::from(offset);
            if utc < start || utc >= end {
                offset = self.lookup(utc).0;
            }
        }
        local - i64::from(offset)
    }
}

/// Big-endian integers of a TZif body.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
}

/// The counts a TZif header gives, in file order.
struct Counts {
    isut: usize,
    isstd: usize,
    leap: usize,
    time: usize,
    types: usize,
    chars: usize,
}

fn header(r: &mut Reader<'_>) -> Option<(u8, Counts)> {
    if r.take(4)? != b"TZif" {
        return None;
    }
    let version = r.take(1)?[0];
    r.take(15)?;
    let mut n = [0usize; 6];
    for v in &mut n {
        *v = r.u32()? as usize;
    }
    let [isut, isstd, leap, time, types, chars] = n;
    Some((
        version,
        Counts {
            isut,
            isstd,
            leap,
            time,
            types,
            chars,
        },
    ))
}

/// A TZif file (RFC 8536): the 64-bit data of version 2 and later, or the
/// 32-bit data of version 1.
fn parse_tzif(bytes: &[u8]) -> Option<Zone> {
    let mut r = Reader { b: bytes, at: 0 };
    let (version, c) = header(&mut r)?;
    let mut time_size = 4;
    let c = if version >= b'2' {
        // Skip the version 1 body to the 64-bit header and body.
        let v1 = c.time * 5 + c.types * 6 + c.chars + c.leap * 8 + c.isstd + c.isut;
        r.take(v1)?;
        time_size = 8;
        header(&mut r)?.1
    } else {
        c
    };
    if c.types == 0 || c.types > 256 {
        return None;
    }
    let mut transitions = Vec::with_capacity(c.time.min(4096));
    for _ in 0..c.time {
        transitions.push(if time_size == 8 {
            r.i64()?
        } else {
            i64::from(r.u32()? as i32)
        });
    }
    let indices = r.take(c.time)?.to_vec();
    let mut types = Vec::with_capacity(c.types);
    for _ in 0..c.types {
        let off = r.u32()? as i32;
        let isdst = r.take(2)?[0] != 0;
        types.push((off, isdst));
    }
    let offsets = indices
        .iter()
        .map(|&i| types.get(usize::from(i)).map(|t| t.0))
        .collect::<Option<Vec<_>>>()?;
    // Before the first transition: the first standard-time type (Go's
    // choice), else the first type.
    let initial = types.iter().find(|t| !t.1).unwrap_or(&types[0]).0;
    Some(Zone {
        transitions,
        offsets,
        initial,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2023-11-14T00:00:00 as if UTC.
    const NOV_14: i64 = 1_699_920_000;

    #[test]
    fn local_times_become_instants_as_in_go() {
        let ny = Zone::named("America/New_York").expect("tzdata is installed");
        // EST (UTC-5) in November.
        assert_eq!(ny.to_utc(NOV_14), NOV_14 + 5 * 3600);
        // EDT (UTC-4) in July: 2023-07-14T00:00:00.
        let jul_14 = 1_689_292_800;
        assert_eq!(ny.to_utc(jul_14), jul_14 + 4 * 3600);
        let berlin = Zone::named("Europe/Berlin").unwrap();
        assert_eq!(berlin.to_utc(NOV_14), NOV_14 - 3600);
        // 02:30 on 2023-03-12 does not exist in New York; Go takes the
        // offset after the change (EDT), giving 06:30 UTC.
        let gap = 1_678_588_200;
        assert_eq!(ny.to_utc(gap), gap + 4 * 3600);
        assert_eq!(Zone::named("UTC").unwrap().to_utc(NOV_14), NOV_14);
    }

    #[test]
    fn unknown_and_unsafe_names_are_none() {
        for name in [
            "Nowhere/City",
            "../etc/passwd",
            "/etc/passwd",
            "Europe/../UTC",
        ] {
            assert!(Zone::named(name).is_none(), "{name}");
        }
    }
}
