//! What decoding a push request will cost in memory, known before decoding.
//!
//! A protobuf body can ask for far more memory than it weighs: two bytes
//! (`0a 00`) make an empty remote-write label, which `prost` turns into a
//! 48-byte struct; a 28 MB message of them becomes more than a gigabyte of
//! `Vec<Label>`. Checking the compressed and decompressed sizes does not
//! catch that, so every push decoder first walks the wire format here —
//! iteratively, allocating nothing but a stack bounded by
//! `MAX_DEPTH` — adding up the in-memory size of each message and string
//! the decoder would create ([`Shape`] describes them per protocol, in
//! `shapes`), and refuses the request once the estimate passes
//! `max_decoded_request_bytes`, before `prost` or `serde_json` allocate
//! anything.
//!
//! JSON bodies get a coarser bound: every object or array counts as the
//! protocol's largest message, every string as its length.

pub(crate) mod shapes;

/// The two size limits every push decoder applies, from the distributor's
/// config: the decompressed message, and what it may take once decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// `max_recv_msg_size`: largest message after decompression, bytes.
    pub max_recv_msg_size: usize,
    /// `max_decoded_request_bytes`: most memory the decoded request may
    /// take, bytes (estimated before decoding).
    pub max_decoded_request_bytes: usize,
}

/// Nesting deeper than `prost`'s own recursion limit is left for `prost` to
/// refuse; the walk stops counting there.
pub(crate) const MAX_DEPTH: usize = 100;

/// The bytes a `Vec` or `String` header takes inside its parent.
const HEADER: usize = std::mem::size_of::<Vec<u8>>();

/// A protobuf message as the decoder lays it out in memory.
///
/// Public only so [`crate::otlp::OtlpRequest`] can name each OTLP
/// request's shape; nothing outside the crate builds one.
#[derive(Debug)]
pub struct Shape {
    /// `size_of` the Rust struct `prost` decodes it into.
    pub(crate) size: usize,
    /// The fields that allocate; the others cost nothing beyond `size`.
    pub(crate) fields: &'static [(u32, Kind)],
}

/// How one field of a [`Shape`] costs memory.
#[derive(Debug)]
pub(crate) enum Kind {
    /// `repeated` message: every occurrence adds an element of that shape.
    Repeated(&'static Shape),
    /// Singular (or oneof) message: stored inside its parent, but its own
    /// fields allocate.
    Inline(&'static Shape),
    /// `string` or `bytes`: its length, on the heap.
    Bytes,
    /// `repeated string`: a `String` header plus its length per element.
    RepeatedBytes,
    /// `repeated` scalar of `elem` bytes in memory, at least `min_wire`
    /// bytes per element on the wire when packed.
    Scalars {
        /// `size_of` one element.
        elem: usize,
        /// Smallest encoding of one element (1 for varints, 4 or 8 fixed).
        min_wire: usize,
    },
}

impl Shape {
    fn kind(&self, number: u32) -> Option<&'static Kind> {
        self.fields
            .iter()
            .find(|(n, _)| *n == number)
            .map(|(_, k)| k)
    }
}

/// A request that would take too much memory once decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "err-cairn-{ID}: the request would take at least {estimate} bytes of memory once decoded \
     ({items} messages, strings or labels counted before stopping), over the limit of {limit} \
     bytes; send smaller batches (fewer series, lines or spans per request) or raise the \
     distributor's max_decoded_request_bytes"
)]
pub struct DecodedTooLarge {
    /// The estimate when counting stopped, bytes.
    pub estimate: usize,
    /// Messages, strings or labels counted.
    pub items: usize,
    /// `max_decoded_request_bytes`.
    pub limit: usize,
}

/// The stable ID of [`DecodedTooLarge`] (`err-cairn-…` in messages, the
/// `reason` of the distributors' bad-request counters).
pub(crate) const ID: &str = "decoded-request-too-large";

/// A running estimate of a request's decoded size against the limit; also
/// used by the translations that expand a request after decoding (OTLP
/// logs copy resource attributes onto every line).
#[derive(Debug)]
pub(crate) struct Budget {
    estimate: usize,
    items: usize,
    limit: usize,
}

impl Budget {
    /// Nothing spent yet of `limit` bytes.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            estimate: 0,
            items: 0,
            limit,
        }
    }

    /// Adds one item of `bytes`; `Err` once the total passes the limit.
    pub(crate) fn charge(&mut self, bytes: usize) -> Result<(), DecodedTooLarge> {
        self.estimate = self.estimate.saturating_add(bytes);
        self.items += 1;
        if self.estimate > self.limit {
            return Err(DecodedTooLarge {
                estimate: self.estimate,
                items: self.items,
                limit: self.limit,
            });
        }
        Ok(())
    }
}

fn varint(buf: &[u8], mut pos: usize) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(pos)?;
        pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some((v, pos));
        }
    }
    None
}

/// Refuses `buf`, a protobuf message of shape `root`, when decoding it
/// would take more than `limit` bytes of memory. Malformed input stops
/// the walk without error: the decoder then refuses it with a better
/// message, having allocated no more than what was counted.
pub(crate) fn check_protobuf(
    buf: &[u8],
    root: &'static Shape,
    limit: usize,
) -> Result<(), DecodedTooLarge> {
    let mut budget = Budget::new(limit);
    budget.charge(root.size)?;
    // (end of the message, its shape), innermost last.
    let mut stack: Vec<(usize, &'static Shape)> = Vec::with_capacity(8);
    stack.push((buf.len(), root));
    let mut pos = 0;
    while let Some(&(end, shape)) = stack.last() {
        if pos >= end {
            stack.pop();
            continue;
        }
        let Some((key, after_key)) = varint(buf, pos) else {
            return Ok(());
        };
        pos = after_key;
        let kind = shape.kind((key >> 3) as u32);
        match key & 7 {
            0 | 1 | 5 => {
                pos = match key & 7 {
                    0 => match varint(buf, pos) {
                        Some((_, p)) => p,
                        None => return Ok(()),
                    },
                    1 => pos + 8,
                    _ => pos + 4,
                };
                if let Some(Kind::Scalars { elem, .. }) = kind {
                    budget.charge(*elem)?;
                }
            }
            2 => {
                let Some((len, p)) = varint(buf, pos) else {
                    return Ok(());
                };
                let Some(len) = usize::try_from(len).ok().filter(|l| *l <= end - p.min(end)) else {
                    return Ok(());
                };
                pos = p;
                match kind {
                    Some(Kind::Repeated(child)) | Some(Kind::Inline(child)) => {
                        if stack.len() >= MAX_DEPTH {
                            return Ok(());
                        }
                        stack.push((pos + len, child));
                        if let Some(Kind::Repeated(_)) = kind {
                            budget.charge(child.size)?;
                        }
                    }
                    Some(Kind::Bytes) => {
                        pos += len;
                        budget.charge(len)?;
                    }
                    Some(Kind::RepeatedBytes) => {
                        pos += len;
                        budget.charge(HEADER + len)?;
                    }
                    Some(Kind::Scalars { elem, min_wire }) => {
                        pos += len;
                        budget.charge(len / min_wire * elem)?;
                    }
                    None => pos += len,
                }
            }
            // Groups and invalid wire types: the decoder refuses them.
            _ => return Ok(()),
        }
        if pos > end {
            return Ok(());
        }
    }
    Ok(())
}

/// Refuses `buf`, a JSON document, when decoding it might take more than
/// `limit` bytes: each object or array counts `container` bytes (the
/// protocol's largest message), each string its length plus a header.
pub(crate) fn check_json(
    buf: &[u8],
    container: usize,
    limit: usize,
) -> Result<(), DecodedTooLarge> {
    let mut budget = Budget::new(limit);
    let mut in_string = false;
    let mut escaped = false;
    let mut string_start = 0;
    for (i, &b) in buf.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
                budget.charge(HEADER + (i - string_start))?;
            }
        } else if b == b'"' {
            in_string = true;
            string_start = i + 1;
        } else if b == b'{' || b == b'[' {
            budget.charge(container)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
