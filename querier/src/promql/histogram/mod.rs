//! Native histograms in the engine: arithmetic (`+`, `-`, scaling) for
//! operators, aggregations and `*_over_time`, and the statistics the
//! `histogram_*` functions read from buckets (quantile, fraction, stddev).

pub(crate) mod arith;
pub(crate) mod buckets;
pub(crate) mod classic;
pub(crate) mod extended;
pub(crate) mod functions;
pub(crate) mod range;
pub(crate) mod stats;
pub(crate) mod trim;
