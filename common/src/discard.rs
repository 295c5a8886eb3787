//! The catalogue of reasons Cairn refuses data.
//!
//! Each reason has a stable ID (as Mimir's `err-mimir-*` catalogue; log
//! reasons keep Loki's names): it is the `reason` label of
//! `cairn_discarded_samples_total` / `cairn_discarded_lines_total`, appears in the HTTP
//! error message as `err-cairn-<id>`, and names the runbook section.

/// Why a sample (or a whole series) was not ingested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DiscardReason {
    /// The series has no `__name__` label.
    MissingMetricName,
    /// `__name__` is not a valid metric name.
    InvalidMetricName,
    /// A label name is not `[a-zA-Z_][a-zA-Z0-9_]*`, or a value is not UTF-8.
    InvalidLabel,
    /// The same label name appears twice.
    DuplicateLabelNames,
    /// Label names are not sorted (remote write requires sorted names).
    LabelsNotSorted,
    /// More labels than `max_label_names_per_series`.
    MaxLabelNamesPerSeries,
    /// A label name longer than `max_label_name_length`.
    LabelNameTooLong,
    /// A label value longer than `max_label_value_length`.
    LabelValueTooLong,
    /// Older than `past_grace_period`.
    SampleTooOld,
    /// Further in the future than `creation_grace_period`.
    SampleTooFarInFuture,
    /// The tenant exceeded `ingestion_rate` / `ingestion_burst_size`.
    RateLimited,
    /// The tenant reached `max_global_series_per_user`.
    PerUserSeriesLimit,
    /// Older than the newest sample of its series.
    SampleOutOfOrder,
    /// Same timestamp as the newest sample of its series, different value.
    SampleDuplicateTimestamp,
    /// A native histogram whose schema, spans, bucket counts or custom
    /// bounds are inconsistent.
    InvalidNativeHistogram,
    /// A log line longer than `max_line_size` (Loki's `line_too_long`).
    LineTooLong,
    /// The tenant exceeded `ingestion_rate_mb` / `ingestion_burst_size_mb`.
    LogRateLimited,
    /// The tenant reached `max_global_streams_per_user`.
    StreamLimit,
    /// A log line older than `reject_old_samples_max_age`.
    GreaterThanMaxSampleAge,
    /// A log line further in the future than `creation_grace_period`.
    LogTooFarInFuture,
    /// A log line older than its stream's out-of-order window.
    TooFarBehind,
    /// A stream's label text does not parse, or a label name is invalid.
    InvalidLabels,
    /// A stream without labels.
    MissingLabels,
    /// A stream with more labels than `max_label_names_per_series`.
    StreamMaxLabelNames,
    /// A stream label name longer than `max_label_name_length`.
    StreamLabelNameTooLong,
    /// A stream label value longer than `max_label_value_length`.
    StreamLabelValueTooLong,
    /// The same label name twice in a stream.
    StreamDuplicateLabelNames,
    /// A span whose trace ID is not 16 bytes or is all zero.
    InvalidTraceId,
    /// A span (or parent, or link) ID that is not 8 bytes or is all zero.
    InvalidSpanId,
    /// The trace grew past `max_bytes_per_trace`.
    TraceTooLarge,
    /// The tenant reached `max_traces_per_user` live traces.
    LiveTracesExceeded,
    /// A span that ends before it starts.
    SpanEndBeforeStart,
    /// A span lasting longer than `max_span_duration`.
    SpanTooLong,
    /// A span that ended longer ago than `max_span_age`.
    SpanTooOld,
    /// A span starting or ending further in the future than
    /// `creation_grace_period`.
    SpanTooFarInFuture,
}

impl DiscardReason {
    /// Every reason, for reading one back from its [`DiscardReason::id`].
    pub const ALL: [DiscardReason; 35] = [
        DiscardReason::MissingMetricName,
        DiscardReason::InvalidMetricName,
        DiscardReason::InvalidLabel,
        DiscardReason::DuplicateLabelNames,
        DiscardReason::LabelsNotSorted,
        DiscardReason::MaxLabelNamesPerSeries,
        DiscardReason::LabelNameTooLong,
        DiscardReason::LabelValueTooLong,
        DiscardReason::SampleTooOld,
        DiscardReason::SampleTooFarInFuture,
        DiscardReason::RateLimited,
        DiscardReason::PerUserSeriesLimit,
        DiscardReason::SampleOutOfOrder,
        DiscardReason::SampleDuplicateTimestamp,
        DiscardReason::InvalidNativeHistogram,
        DiscardReason::LineTooLong,
        DiscardReason::LogRateLimited,
        DiscardReason::StreamLimit,
        DiscardReason::GreaterThanMaxSampleAge,
        DiscardReason::LogTooFarInFuture,
        DiscardReason::TooFarBehind,
        DiscardReason::InvalidLabels,
        DiscardReason::MissingLabels,
        DiscardReason::StreamMaxLabelNames,
        DiscardReason::StreamLabelNameTooLong,
        DiscardReason::StreamLabelValueTooLong,
        DiscardReason::StreamDuplicateLabelNames,
        DiscardReason::InvalidTraceId,
        DiscardReason::InvalidSpanId,
        DiscardReason::TraceTooLarge,
        DiscardReason::LiveTracesExceeded,
        DiscardReason::SpanEndBeforeStart,
        DiscardReason::SpanTooLong,
        DiscardReason::SpanTooOld,
        DiscardReason::SpanTooFarInFuture,
    ];

    /// Stable ID: counter label and error-message suffix.
    pub fn id(self) -> &'static str {
        use DiscardReason::*;
        match self {
            MissingMetricName => "missing-metric-name",
            InvalidMetricName => "metric-name-invalid",
            InvalidLabel => "label-invalid",
            DuplicateLabelNames => "duplicate-label-names",
            LabelsNotSorted => "labels-not-sorted",
            MaxLabelNamesPerSeries => "max-label-names-per-series",
            LabelNameTooLong => "label-name-too-long",
            LabelValueTooLong => "label-value-too-long",
            SampleTooOld => "sample-too-old",
            SampleTooFarInFuture => "sample-too-far-in-future",
            RateLimited => "rate-limited",
            PerUserSeriesLimit => "per-user-series-limit",
            SampleOutOfOrder => "sample-out-of-order",
            SampleDuplicateTimestamp => "sample-duplicate-timestamp",
            InvalidNativeHistogram => "invalid-native-histogram",
            LineTooLong => "line_too_long",
            LogRateLimited => "rate_limited",
            StreamLimit => "stream_limit",
            GreaterThanMaxSampleAge => "greater_than_max_sample_age",
            LogTooFarInFuture => "too_far_in_future",
            TooFarBehind => "too_far_behind",
            InvalidLabels => "invalid_labels",
            MissingLabels => "missing_labels",
            StreamMaxLabelNames => "max_label_names_per_series",
            StreamLabelNameTooLong => "label_name_too_long",
            StreamLabelValueTooLong => "label_value_too_long",
            StreamDuplicateLabelNames => "duplicate_label_names",
            InvalidTraceId => "invalid-trace-id",
            InvalidSpanId => "invalid-span-id",
            TraceTooLarge => "trace-too-large",
            LiveTracesExceeded => "live-traces-exceeded",
            SpanEndBeforeStart => "span-end-before-start",
            SpanTooLong => "span-too-long",
            SpanTooOld => "span-too-old",
            SpanTooFarInFuture => "span-too-far-in-future",
        }
    }

    /// The reason whose [`DiscardReason::id`] is `id` (as carried between
    /// services), if any.
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.id() == id)
    }

    /// The per-tenant limit behind the reason (its runtime-overrides key),
    /// for the "raise it" hint in messages; `None` for invalid data.
    pub fn limit_name(self) -> Option<&'static str> {
        use DiscardReason::*;
        Some(match self {
            MaxLabelNamesPerSeries | StreamMaxLabelNames => "max_label_names_per_series",
            LabelNameTooLong | StreamLabelNameTooLong => "max_label_name_length",
            LabelValueTooLong | StreamLabelValueTooLong => "max_label_value_length",
            LineTooLong => "max_line_size (or set max_line_size_truncate)",
            LogRateLimited => "ingestion_rate_mb / ingestion_burst_size_mb",
            StreamLimit => "max_global_streams_per_user",
            GreaterThanMaxSampleAge => "reject_old_samples_max_age",
            LogTooFarInFuture => "creation_grace_period",
            SampleTooOld => "past_grace_period",
            SampleTooFarInFuture => "creation_grace_period",
            RateLimited => "ingestion_rate / ingestion_burst_size",
            PerUserSeriesLimit => "max_global_series_per_user",
            TraceTooLarge => "max_bytes_per_trace",
            LiveTracesExceeded => "max_traces_per_user",
            SpanTooLong => "max_span_duration",
            SpanTooOld => "max_span_age",
            SpanTooFarInFuture => "creation_grace_period",
            MissingMetricName
            | InvalidMetricName
            | InvalidLabel
            | DuplicateLabelNames
            | LabelsNotSorted
            | SampleOutOfOrder
            | SampleDuplicateTimestamp
            | InvalidNativeHistogram
            | TooFarBehind
            | InvalidLabels
            | MissingLabels
            | StreamDuplicateLabelNames
            | InvalidTraceId
            | InvalidSpanId
            | SpanEndBeforeStart => return None,
        })
    }

    /// True for reasons the client cannot fix by resending later (→ 400);
    /// limits (→ 429) are the others.
    pub fn is_limit(self) -> bool {
        matches!(
            self,
            DiscardReason::RateLimited
                | DiscardReason::PerUserSeriesLimit
                | DiscardReason::LogRateLimited
                | DiscardReason::StreamLimit
                | DiscardReason::TraceTooLarge
                | DiscardReason::LiveTracesExceeded
        )
    }
}

impl std::fmt::Display for DiscardReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "err-cairn-{}", self.id())
    }
}
