//! Which blocks another block already holds: after a compaction uploads
//! its output, the sources stay in the bucket until deleted, and a reader
//! counting both would see every sample twice. Like Mimir's deduplicate
//! filter, a block whose `compaction.sources` all appear in another
//! block's sources is covered by it and must be skipped.

use std::collections::HashSet;

use ulid::Ulid;

use super::BlockMeta;

/// Splits `metas` into the blocks to read and the blocks covered by one of
/// them, both in the input order. Of blocks with identical sources the one
/// with the highest ULID (the newest) is kept.
pub fn split_covered(metas: Vec<BlockMeta>) -> (Vec<BlockMeta>, Vec<BlockMeta>) {
    // Widest first, so a block can only be covered by one examined before it.
    let mut order: Vec<usize> = (0..metas.len()).collect();
    order.sort_by(|&a, &b| {
        let (ma, mb) = (&metas[a], &metas[b]);
        mb.compaction
            .sources
            .len()
            .cmp(&ma.compaction.sources.len())
            .then(mb.ulid.cmp(&ma.ulid))
    });
    let mut kept_sources: Vec<(usize, HashSet<Ulid>)> = Vec::new();
    let mut covered = vec![false; metas.len()];
    for i in order {
        let sources = sources_of(&metas[i]);
        if kept_sources
            .iter()
            .any(|(_, wider)| sources.is_subset(wider))
        {
            covered[i] = true;
        } else {
            kept_sources.push((i, sources));
        }
    }
    let mut keep = Vec::with_capacity(metas.len());
    let mut drop = Vec::new();
    for (meta, covered) in metas.into_iter().zip(covered) {
        if covered {
            drop.push(meta);
        } else {
            keep.push(meta);
        }
    }
    (keep, drop)
}

/// A block's sources; a block listing none is its own source.
fn sources_of(meta: &BlockMeta) -> HashSet<Ulid> {
    if meta.compaction.sources.is_empty() {
        HashSet::from([meta.ulid])
    } else {
        meta.compaction.sources.iter().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{BlockCompaction, BlockStats, CairnMeta};

    fn meta(ulid: u128, sources: &[u128]) -> BlockMeta {
        BlockMeta {
            ulid: Ulid(ulid),
            min_time: 0,
            max_time: 1,
            stats: BlockStats::default(),
            compaction: BlockCompaction {
                level: if sources.len() > 1 { 2 } else { 1 },
                sources: sources.iter().map(|&s| Ulid(s)).collect(),
            },
            version: 1,
            cairn: CairnMeta::default(),
        }
    }

    fn ids(metas: &[BlockMeta]) -> Vec<u128> {
        metas.iter().map(|m| m.ulid.0).collect()
    }

    #[test]
    fn sources_of_a_compacted_block_are_covered() {
        let (keep, drop) = split_covered(vec![
            meta(1, &[1]),
            meta(2, &[2]),
            meta(3, &[3]),
            meta(10, &[1, 2]),
        ]);
        assert_eq!(ids(&keep), [3, 10]);
        assert_eq!(ids(&drop), [1, 2]);
    }

    #[test]
    fn identical_sources_keep_the_newest_and_partial_overlap_keeps_both() {
        let (keep, drop) = split_covered(vec![meta(10, &[1, 2]), meta(11, &[1, 2])]);
        assert_eq!((ids(&keep), ids(&drop)), (vec![11], vec![10]));
        let (keep, drop) = split_covered(vec![meta(10, &[1, 2]), meta(11, &[2, 3])]);
        assert_eq!((ids(&keep), ids(&drop)), (vec![10, 11], vec![]));
    }
}
