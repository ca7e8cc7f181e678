//! Logging and, when `[telemetry] otlp_endpoint` is set, OpenTelemetry
//! traces over OTLP/HTTP (protobuf), both fed by the one `tracing`
//! subscriber: the spans Accord already makes (requests, GraphQL
//! operations, database transactions, the SFU's join handshake) are what
//! is exported.
//!
//! What reaches the exporter is what reaches the logs (identifiers, kinds,
//! outcome codes; never mediation content), limited to Accord's own crates
//! at `info` and above whatever the log filter says: no spans of the HTTP
//! client that does the exporting, none of the database driver.
//!
//! Spans are batched and posted from a thread of their own, so a collector
//! that is slow, down or misnamed never holds up a request: the batch queue
//! drops spans when full. A failing export is logged once, and once more
//! when exports work again, never per span or per batch.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanData, SpanExporter};
use opentelemetry_sdk::Resource;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{LogConfig, TelemetrySection};

/// How long one export may take before it is given up (the batch is lost).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long shutting down waits for the last spans to be sent.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(6);

/// The running exporter, if any: [`Telemetry::shutdown`] sends what is
/// still queued.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still queued (waiting at most a few seconds) and
    /// stops exporting.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        // The provider waits for its exporting thread: not on the runtime.
        let done =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT))
                .await;
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "telemetry: the last spans were not all sent"),
            Err(e) => tracing::warn!(error = %e, "telemetry: shutting down the exporter failed"),
        }
    }
}

/// Installs the process's `tracing` subscriber: logs to stderr as `log`
/// says, and spans to the collector when `telemetry.otlp_endpoint` is set.
pub fn init(log: &LogConfig, telemetry: &TelemetrySection) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.filter));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if log.json {
        fmt.json().with_filter(filter).boxed()
    } else {
        fmt.with_filter(filter).boxed()
    };
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = vec![fmt];
    let provider = match telemetry.traces_url() {
        Some(url) => {
            let provider = provider(&url, telemetry)?;
            let tracer = provider.tracer("accord");
            layers.push(
                tracing_opentelemetry::layer()
                    .with_tracer(tracer)
                    // Accord's own spans and the events inside them, at
                    // `info` and above: never the exporting HTTP client's
                    // (which would feed on itself), nor sqlx's.
                    .with_filter(Targets::new().with_target("accord", tracing::Level::INFO))
                    .boxed(),
            );
            Some(provider)
        }
        None => None,
    };
    tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .context("installing the tracing subscriber")?;
    if let Some(url) = telemetry.traces_url() {
        tracing::info!(
            endpoint = %url,
            service = %telemetry.service_name,
            sample_ratio = telemetry.sample_ratio,
            "exporting traces over OTLP/HTTP"
        );
    }
    Ok(Telemetry { provider })
}

fn provider(url: &url::Url, telemetry: &TelemetrySection) -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(url.as_str())
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .with_context(|| format!("telemetry.otlp_endpoint: setting up the exporter for {url}"))?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(ReportOnce::new(exporter))
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            telemetry.sample_ratio,
        ))))
        .with_resource(
            Resource::builder()
                .with_service_name(telemetry.service_name.clone())
                .build(),
        )
        .build())
}

/// An exporter that logs the first of a run of failed exports, and the
/// first success after them, instead of every failure.
#[derive(Debug)]
struct ReportOnce<E> {
    inner: E,
    failing: AtomicBool,
}

impl<E> ReportOnce<E> {
    fn new(inner: E) -> Self {
        ReportOnce {
            inner,
            failing: AtomicBool::new(false),
        }
    }

    fn record(&self, result: &OTelSdkResult) {
        match result {
            Err(e) if !self.failing.swap(true, Ordering::Relaxed) => tracing::warn!(
                error = %e,
                "telemetry: exporting spans failed; spans are dropped and further failures \
                 are not logged until an export succeeds"
            ),
            Ok(()) if self.failing.swap(false, Ordering::Relaxed) => {
                tracing::info!("telemetry: exporting spans works again")
            }
            _ => {}
        }
    }
}

impl<E: SpanExporter> SpanExporter for ReportOnce<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let result = self.inner.export(batch).await;
        self.record(&result);
        result
    }

    fn shutdown_with_timeout(&mut self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&mut self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
