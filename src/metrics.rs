//! The process's metrics (Prometheus): counters and histograms the HTTP layer, the writer,
//! expiry and settlement record into, and the text format `GET /metrics` serves
//! (`server::observe`). One registry per process; gauges that are a reading of something
//! else (queue depth, pool use, event subscribers) are set when scraped.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Latency buckets in seconds: 1 ms to 30 s (the request limit).
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Jobs per writer batch: 1 to `writer::BATCH_SIZE_MAX` (256).
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Every metric of the process.
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub http_in_flight: IntGauge,
    pub writer_queue_depth: IntGauge,
    pub writer_queue_full: IntCounter,
    pub writer_batch_jobs: Histogram,
    pub writer_batch_duration: Histogram,
    pub writer_commit_duration: Histogram,
    pub writer_batches: IntCounterVec,
    pub writer_batch_retries: IntCounter,
    pub db_pool: IntGaugeVec,
    pub sse_subscribers: IntGauge,
    pub uploads_in_progress: IntGauge,
    pub rate_limited: IntCounterVec,
    pub expiry_runs: IntCounterVec,
    pub expiry_jobs: IntCounter,
    pub expiry_transactions: IntCounter,
    pub expiry_last_success: IntGauge,
    pub settlement_runs: IntCounterVec,
    pub settlement_statements: IntCounter,
    pub draining: IntGauge,
}

/// The process's metrics, registered on first use.
pub fn get() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("a valid counter");
    r.register(Box::new(c.clone())).expect("registered once");
    c
}

fn counters(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid counter");
    r.register(Box::new(c.clone())).expect("registered once");
    c
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("a valid gauge");
    r.register(Box::new(g.clone())).expect("registered once");
    g
}

fn histogram(r: &Registry, name: &str, help: &str, buckets: &[f64]) -> Histogram {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
        .expect("a valid histogram");
    r.register(Box::new(h.clone())).expect("registered once");
    h
}

impl Metrics {
    fn new() -> Metrics {
        let r = Registry::new();
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "machipay_http_request_duration_seconds",
                "Time from a request's headers to its answer's headers, by route.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "route"],
        )
        .expect("a valid histogram");
        r.register(Box::new(http_duration.clone()))
            .expect("registered once");
        let db_pool = IntGaugeVec::new(
            Opts::new(
                "machipay_db_pool_connections",
                "Database connections by pool (read, write) and state (idle, busy).",
            ),
            &["pool", "state"],
        )
        .expect("a valid gauge");
        r.register(Box::new(db_pool.clone()))
            .expect("registered once");
        Metrics {
            http_requests: counters(
                &r,
                "machipay_http_requests_total",
                "Requests answered, by method, route (the path template) and status.",
                &["method", "route", "status"],
            ),
            http_duration,
            http_in_flight: gauge(
                &r,
                "machipay_http_requests_in_flight",
                "Requests being handled.",
            ),
            writer_queue_depth: gauge(
                &r,
                "machipay_writer_queue_depth",
                "Jobs waiting for the writer, every lane (interactive at most writer::QUEUE_SIZE_MAX, 4096; sale 1024; bulk 256).",
            ),
            writer_queue_full: counter(
                &r,
                "machipay_writer_queue_full_total",
                "Jobs refused at once (503 overloaded) because the writer's queue was full.",
            ),
            writer_batch_jobs: histogram(
                &r,
                "machipay_writer_batch_jobs",
                "Jobs per writer batch.",
                BATCH_BUCKETS,
            ),
            writer_batch_duration: histogram(
                &r,
                "machipay_writer_batch_duration_seconds",
                "A writer batch from BEGIN to its answers (jobs, flush and commit).",
                LATENCY_BUCKETS,
            ),
            writer_commit_duration: histogram(
                &r,
                "machipay_writer_commit_duration_seconds",
                "Writing a batch's pending rows and its COMMIT.",
                LATENCY_BUCKETS,
            ),
            writer_batches: counters(
                &r,
                "machipay_writer_batches_total",
                "Writer batches by outcome: committed, or failed (every job answered 503).",
                &["outcome"],
            ),
            writer_batch_retries: counter(
                &r,
                "machipay_writer_batch_retries_total",
                "Writer batches run again whole after losing a race (deadlock, serialization).",
            ),
            db_pool,
            sse_subscribers: gauge(
                &r,
                "machipay_sse_subscribers",
                "Open store event streams (server-sent events).",
            ),
            uploads_in_progress: gauge(
                &r,
                "machipay_uploads_in_progress",
                "Large uploads (imports) being read (at most app::UPLOADS_MAX).",
            ),
            rate_limited: counters(
                &r,
                "machipay_rate_limited_total",
                "Requests refused 429 by a rate limit, by limit.",
                &["limit"],
            ),
            expiry_runs: counters(
                &r,
                "machipay_expiry_runs_total",
                "Scheduled expiry runs by outcome (ok, failed).",
                &["outcome"],
            ),
            expiry_jobs: counter(
                &r,
                "machipay_expiry_jobs_total",
                "Writer jobs expiry runs have committed (each a bounded share of wallets).",
            ),
            expiry_transactions: counter(
                &r,
                "machipay_expiry_transactions_total",
                "Wallets expiry runs have emptied (one transaction each).",
            ),
            expiry_last_success: gauge(
                &r,
                "machipay_expiry_last_success_timestamp_seconds",
                "When the last scheduled expiry run finished without error (Unix seconds).",
            ),
            settlement_runs: counters(
                &r,
                "machipay_settlement_runs_total",
                "Settlement runs by outcome (ok, refused, failed).",
                &["outcome"],
            ),
            settlement_statements: counter(
                &r,
                "machipay_settlement_statements_total",
                "Store statements settlement runs have made.",
            ),
            draining: gauge(
                &r,
                "machipay_draining",
                "1 once the server is shutting down.",
            ),
            registry: r,
        }
        .with_every_label()
    }

    /// Labelled series appear once first touched: touch every known label so a scrape shows
    /// zeros from the start (an alert on `failed` needs the series to exist).
    fn with_every_label(self) -> Self {
        for outcome in ["committed", "failed"] {
            self.writer_batches.with_label_values(&[outcome]);
        }
        for outcome in ["ok", "failed"] {
            self.expiry_runs.with_label_values(&[outcome]);
        }
        for outcome in ["ok", "refused", "failed"] {
            self.settlement_runs.with_label_values(&[outcome]);
        }
        for limit in ["enrollment_codes", "enrollments"] {
            self.rate_limited.with_label_values(&[limit]);
        }
        self
    }

    /// The Prometheus text format of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "metrics could not be encoded");
        }
        out
    }
}

/// Seconds, as Prometheus histograms take them.
pub fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}
