//! Native-histogram chunks as read back from the WAL, blocks and the
//! ingester RPC: arbitrary bytes never panic the decoder, and whatever
//! decodes re-encodes to the same histograms, bit for bit.
#![no_main]
use common::chunk::histogram::{HistogramChunk, decode};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(samples) = decode(data) else { return };
    let mut chunk = HistogramChunk::new();
    for s in &samples {
        chunk.append(s.t, &s.h);
    }
    assert_eq!(chunk.num_samples(), samples.len());
    // The trusted iterator: a canonical re-encoding may be shorter than the
    // input, and so get a smaller output budget from `decode`.
    let again: Vec<_> = chunk.iter().collect();
    assert_eq!(again.len(), samples.len());
    for (a, b) in again.iter().zip(&samples) {
        assert_eq!(a.t, b.t);
        assert!(a.h.bit_eq(&b.h), "{:?} became {:?}", b.h, a.h);
    }
});
