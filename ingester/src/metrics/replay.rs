//! Rebuilding a tenant's head from its WAL records at start-up.
//!
//! A push writes its float samples and its histogram samples as two
//! records, one after the other. A series whose samples of both kinds
//! interleave in time within one push (a series changing kind) must be
//! replayed on one timeline, or the later kind's older samples would read
//! as out of order and an acknowledged sample would be lost: so a floats
//! record is held until the next record shows whether histograms follow.

use std::collections::HashMap;

use common::exemplar::SeriesExemplars;
use common::histogram::HistogramSample;
use common::series::Sample;

use super::head::{Head, Item, in_time_order};
use super::record::Record;

/// Replay state: the head being built and what the records said so far.
pub(crate) struct Replay {
    head: Head,
    max_id: u32,
    exemplars: Vec<SeriesExemplars>,
    /// A series dropped while idle and re-created gets a new ref; the newer
    /// ref maps onto the one the replayed head already has.
    aliases: HashMap<u32, u32>,
    /// The last floats record, until the next record is seen.
    pending_floats: Vec<(u32, Sample)>,
}

impl Replay {
    /// An empty head, before the first record.
    pub(crate) fn new() -> Self {
        Self {
            head: Head::new(),
            max_id: 0,
            exemplars: Vec::new(),
            aliases: HashMap::new(),
            pending_floats: Vec::new(),
        }
    }

    /// Applies one record.
    pub(crate) fn apply(&mut self, rec: Record) {
        match rec {
            Record::Series { id, labels } => {
                self.max_id = self.max_id.max(id);
                match self.head.lookup(&labels) {
                    Some(existing) if existing != id => {
                        self.aliases.insert(id, existing);
                    }
                    Some(_) => {}
                    None => self.head.create(id, labels),
                }
            }
            Record::Exemplars(list) => self.exemplars.extend(list),
            Record::Samples(samples) => {
                self.apply_samples(Vec::new());
                self.pending_floats = samples;
            }
            Record::Histograms(list) => self.apply_samples(list),
        }
    }

    /// The head, the highest series ref seen, and the logged exemplars.
    pub(crate) fn finish(mut self) -> (Head, u32, Vec<SeriesExemplars>) {
        self.apply_samples(Vec::new());
        (self.head, self.max_id, self.exemplars)
    }

    /// Appends the pending floats together with `histograms` (the record
    /// after them, or none), each series' samples on one timeline.
    fn apply_samples(&mut self, histograms: Vec<(u32, Vec<HistogramSample>)>) {
        // Only series with histograms in this push need the floats
        // regrouped; the others replay in record order, as before.
        let mut mixed: HashMap<u32, (Vec<Sample>, Vec<HistogramSample>)> = HashMap::new();
        for (id, hs) in histograms {
            mixed.entry(id).or_default().1.extend(hs);
        }
        let regroup = !mixed.is_empty();
        for (id, s) in std::mem::take(&mut self.pending_floats) {
            match if regroup { mixed.get_mut(&id) } else { None } {
                Some((floats, _)) => floats.push(s),
                None => self.append(id, std::iter::once(Item::Float(s))),
            }
        }
        for (id, (floats, histograms)) in mixed {
            self.append(id, in_time_order(floats, histograms));
        }
    }

    /// Appends `items` (one series' samples, oldest first) to series `id`
    /// or the series it is an alias of, skipping what is out of order.
    fn append(&self, id: u32, items: impl Iterator<Item = Item>) {
        let id = self.aliases.get(&id).copied().unwrap_or(id);
        let Some(series) = self.head.get(id) else {
            return;
        };
        let mut series = series.lock();
        for item in items {
            let t = item.time_and_value().0;
            if series.append_if_in_order(item) {
                self.head.observe(t);
            }
        }
    }
}
