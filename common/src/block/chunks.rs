//! Chunk segment files: where a block's XOR chunks live.
//!
//! ```text
//! segment := header frame*
//! header  := "CCHK" version:u8(=1) reserved:[u8; 3]
//! frame   := len:u32le crc:u32le payload:[u8; len]
//!            payload = snappy (raw format) of one XOR chunk's bytes
//!            crc     = CRC-32 (IEEE) of the payload
//! ```
//!
//! One chunk per frame, so reading a series costs a ranged GET of just its
//! frames and decompressing only them. The index addresses a chunk by
//! (segment number, byte offset of its frame, frame length). Segment files
//! are named `chunks/000001`, `chunks/000002`, … and capped at
//! [`MAX_SEGMENT_BYTES`].

/// A segment is closed once the next frame would take it past this size.
pub const MAX_SEGMENT_BYTES: u64 = 512 << 20;

/// The segment file header.
pub(crate) const SEGMENT_HEADER: [u8; 8] = *b"CCHK\x01\0\0\0";

/// Bytes before a frame's payload.
pub(crate) const FRAME_HEADER_LEN: usize = 8;

/// Largest decompressed chunk accepted from storage; anything bigger is
/// corruption, not data (a 2-hour chunk at one sample per millisecond is
/// about 8 MiB).
const MAX_CHUNK_BYTES: usize = 64 << 20;

/// The object name of segment `n` inside a block's `chunks/` directory.
pub(crate) fn segment_name(n: u32) -> String {
    format!("{n:06}")
}

/// Appends `chunk` as one frame to `out`, returning the frame's length.
/// Public for the snappy frame benchmark (`benches/chunk.rs`).
pub fn write_frame(out: &mut Vec<u8>, chunk: &[u8]) -> Result<u32, String> {
    let compressed = snap::raw::Encoder::new().compress_vec(chunk).map_err(|e| {
        format!(
            "snappy compression of a {}-byte chunk failed: {e}",
            chunk.len()
        )
    })?;
    let len = u32::try_from(compressed.len())
        .map_err(|_| format!("chunk of {} bytes is too large", chunk.len()))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&compressed).to_le_bytes());
    out.extend_from_slice(&compressed);
    u32::try_from(compressed.len() + FRAME_HEADER_LEN)
        .map_err(|_| format!("chunk of {} bytes is too large", chunk.len()))
}

/// Checks and decompresses one whole frame, returning the XOR chunk bytes.
pub fn read_frame(frame: &[u8]) -> Result<Vec<u8>, String> {
    let (header, payload) = frame.split_at_checked(FRAME_HEADER_LEN).ok_or_else(|| {
        format!(
            "chunk frame of {} bytes is shorter than its header",
            frame.len()
        )
    })?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len != payload.len() {
        return Err(format!(
            "chunk frame says {len} payload bytes, index says {}",
            payload.len()
        ));
    }
    if crc32fast::hash(payload) != crc {
        return Err("chunk frame fails its CRC".into());
    }
    let raw_len = snap::raw::decompress_len(payload)
        .map_err(|e| format!("chunk frame is not snappy: {e}"))?;
    if raw_len > MAX_CHUNK_BYTES {
        return Err(format!("chunk frame claims {raw_len} decompressed bytes"));
    }
    snap::raw::Decoder::new()
        .decompress_vec(payload)
        .map_err(|e| format!("chunk frame is not snappy: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_detect_damage() {
        let chunk: Vec<u8> = (0..500u32).map(|i| (i * 7 % 13) as u8).collect();
        let mut buf = Vec::new();
        let len = write_frame(&mut buf, &chunk).unwrap() as usize;
        assert_eq!(len, buf.len());
        assert_eq!(read_frame(&buf).unwrap(), chunk);
        for cut in 0..buf.len() {
            assert!(read_frame(&buf[..cut]).is_err());
        }
        let mut bad = buf.clone();
        bad[FRAME_HEADER_LEN + 1] ^= 1;
        assert!(read_frame(&bad).unwrap_err().contains("CRC"));
    }

    #[test]
    fn segment_names_are_six_digits() {
        assert_eq!(segment_name(1), "000001");
    }
}
