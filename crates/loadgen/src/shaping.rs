//! `accord-loadgen shaping`: audio is never sacrificed for video. A mediator
//! bot publishes audio and a simulcast camera (`q`, `h`, `f`); a party bot
//! receives them over a link that is shaped for a while with `tc … netem
//! rate`, and the test checks what arrived in each phase (see
//! `scripts/netem-test`, which sets up the namespace and Accord):
//!
//! 1. unshaped: the subscriber receives the top layer its tile allows, and
//!    all audio;
//! 2. shaped (e.g. 300 kbit/s): all audio still (at least 99 % after a
//!    settling time), and in the phase's last part video only from the
//!    lowest layer or none at all;
//! 3. lifted: video climbs back to a higher layer.
//!
//! The subscriber's peer connection runs in the network namespace whose link
//! is shaped: on a thread that has entered it ([`NetnsRuntime`]), so that its
//! sockets live there, while the mediator, the API client and the
//! measurements stay in this process's namespace. Both bots share one clock,
//! so one-way latencies come from the tags.
//!
//! Audio delivery is counted by the tags: of the microphone packets the
//! mediator sent within a phase (after its settling time), how many the
//! subscriber received at all; video by arrival time, per layer.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use accord_sfu_core::protocol::{ClientMessage, ServerMessage};
use anyhow::Context as _;
use serde::Serialize;
use tokio::sync::oneshot;
use url::Url;

use crate::bench::accord::Accord;
use crate::report::{Arrival, Departure};
use crate::{device, tag, Bot, BotConfig, Source, SIMULCAST_LAYERS};

/// A tile size, `WIDTHxHEIGHT` (e.g. `1280x720`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TileSize {
    /// Pixels wide.
    pub width: u32,
    /// Pixels high.
    pub height: u32,
}

impl FromStr for TileSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (w, h) = s
            .split_once(['x', 'X'])
            .ok_or_else(|| format!("expected WIDTHxHEIGHT, got {s:?}"))?;
        let number = |v: &str| {
            v.trim()
                .parse::<u32>()
                .map_err(|e| format!("{v:?} in {s:?}: {e}"))
        };
        Ok(TileSize {
            width: number(w)?,
            height: number(h)?,
        })
    }
}

/// The `shaping` subcommand's options.
#[derive(Debug, Clone, clap::Args)]
pub struct ShapingArgs {
    /// Accord's HTTP address (API and signaling), e.g. http://198.20.0.1:38080/.
    #[arg(long)]
    pub accord: Url,
    /// Accord's file outbox (`outbox.dir`), where the party's setup link lands.
    #[arg(long)]
    pub accord_outbox: PathBuf,
    /// The network namespace (`ip netns` name) the subscriber runs in.
    #[arg(long)]
    pub netns: String,
    /// The subscriber's address for media, in that namespace.
    #[arg(long)]
    pub subscriber_ip: IpAddr,
    /// The mediator's address for media, in this process's namespace.
    #[arg(long)]
    pub mediator_ip: IpAddr,
    /// The interface whose egress carries everything toward the subscriber
    /// (the veth end outside its namespace); its root qdisc is replaced.
    #[arg(long)]
    pub shaped_dev: String,
    /// The shaped link's rate, kbit/s.
    #[arg(long, default_value_t = 300)]
    pub rate_kbit: u32,
    /// The shaped link's queue, packets (netem `limit`): 40 full-size
    /// packets are about 1.2 s at 300 kbit/s.
    #[arg(long, default_value_t = 40)]
    pub limit_packets: u32,
    /// How to shape: `netem` (`netem rate … limit …`), `tbf` (a token
    /// bucket: `tbf rate … burst 3000 latency …`) or `auto`: netem, or tbf
    /// where the kernel has no netem (sch_netem).
    #[arg(long, default_value = "auto", value_parser = ["auto", "netem", "tbf"])]
    pub qdisc: String,
    /// tbf only: the longest a packet may wait in the queue, ms (its limit).
    #[arg(long, default_value_t = 500)]
    pub tbf_latency_ms: u32,
    /// Length of the unshaped phase, seconds.
    #[arg(long, default_value_t = 10)]
    pub unshaped_seconds: u64,
    /// Length of the shaped phase, seconds.
    #[arg(long, default_value_t = 20)]
    pub shaped_seconds: u64,
    /// Length of the phase after the limit is lifted, seconds.
    #[arg(long, default_value_t = 20)]
    pub lifted_seconds: u64,
    /// Audio sent in the first seconds of the shaped phase is not counted:
    /// the SFU's estimate needs this long to see the new limit.
    #[arg(long, default_value_t = 5)]
    pub shaped_settle_seconds: u64,
    /// Audio sent in the first seconds of the other phases is not counted
    /// (joining; packets queued at the limit when it is lifted are dropped
    /// with the queue).
    #[arg(long, default_value_t = 2)]
    pub settle_seconds: u64,
    /// The last seconds of the shaped phase, where video may come only from
    /// the lowest layer (or not at all).
    #[arg(long, default_value_t = 8)]
    pub low_window_seconds: u64,
    /// The last seconds of the unshaped phase, where video must come from
    /// layers above the lowest and none above the top layer the tile allows.
    #[arg(long, default_value_t = 3)]
    pub top_window_seconds: u64,
    /// Fraction of that window's video bytes that must come from layers
    /// above the lowest: most, not all. The top layer itself must arrive
    /// during the phase, but need not hold to its end: the receiver's
    /// estimate may dip for a few seconds and the SFU step down a layer
    /// until it recovers (with debug binaries on two busy cores it does).
    #[arg(long, default_value_t = 0.67)]
    pub min_upper_share: f64,
    /// The tile size the subscriber reports for the mediator's camera.
    #[arg(long, default_value = "1280x720")]
    pub tile: TileSize,
    /// The least fraction of audio packets that must arrive in each phase.
    #[arg(long, default_value_t = 0.99)]
    pub min_audio_delivery: f64,
    /// How long each joining step may take, seconds.
    #[arg(long, default_value_t = 20)]
    pub step_timeout: u64,
    /// Write the figures here as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Both bots encrypt media end to end, as browsers do (`--e2ee true`).
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    pub e2ee: bool,
}

/// A tokio runtime on a thread that has entered a network namespace:
/// sockets made by tasks spawned on it live in that namespace.
#[derive(Debug)]
pub struct NetnsRuntime {
    handle: tokio::runtime::Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NetnsRuntime {
    /// Enters `/run/netns/<name>` (made by `ip netns add <name>`) on a new
    /// thread and runs a current-thread runtime there. Needs CAP_SYS_ADMIN.
    pub fn enter(name: &str) -> anyhow::Result<NetnsRuntime> {
        anyhow::ensure!(
            !name.is_empty() && !name.contains('/') && name != "." && name != "..",
            "{name:?} is not a network namespace name"
        );
        let path = PathBuf::from("/run/netns").join(name);
        let file = std::fs::File::open(&path)
            .with_context(|| format!("opening {} (ip netns add {name})", path.display()))?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("netns-{name}"))
            .spawn(move || {
                let built = nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                    .context("entering the network namespace (setns; needs root)")
                    .and_then(|()| {
                        tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .context("building a runtime in the namespace")
                    });
                match built {
                    Ok(runtime) => {
                        let _ = ready_tx.send(Ok(runtime.handle().clone()));
                        runtime.block_on(async {
                            let _ = stop_rx.await;
                        });
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .context("starting the namespace's thread")?;
        let handle = ready_rx
            .recv()
            .map_err(|_| anyhow::anyhow!("the namespace's thread ended"))??;
        Ok(NetnsRuntime {
            handle,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Runs `future` in the namespace and waits for its result.
    pub async fn run<F>(&self, future: F) -> anyhow::Result<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle
            .spawn(future)
            .await
            .map_err(|e| anyhow::anyhow!("a task in the namespace failed: {e}"))
    }
}

impl Drop for NetnsRuntime {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // The thread ends once its runtime has dropped its tasks; not waited
        // for (this may run inside another runtime).
        drop(self.thread.take());
    }
}

/// Why `tc` failed.
#[derive(Debug, thiserror::Error)]
enum TcError {
    /// The kernel does not have the qdisc.
    #[error("tc {0}: the kernel has no such qdisc ({1})")]
    UnknownQdisc(String, String),
    /// Anything else.
    #[error("tc {0} failed: {1}")]
    Failed(String, String),
    /// tc could not be run.
    #[error("running tc (iproute2): {0}")]
    Run(#[from] std::io::Error),
}

/// Runs `tc` with `args`; fails with its output if it does.
fn tc(args: &[&str]) -> Result<(), TcError> {
    let out = std::process::Command::new("tc").args(args).output()?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if stderr.contains("qdisc kind is unknown") {
        Err(TcError::UnknownQdisc(args.join(" "), stderr))
    } else {
        Err(TcError::Failed(args.join(" "), stderr))
    }
}

/// The shaping on a device, removed again when dropped.
struct Shaped {
    dev: String,
    active: bool,
    /// The `tc` command that applied it.
    command: String,
}

impl Shaped {
    fn apply(args: &ShapingArgs) -> anyhow::Result<Shaped> {
        let dev = args.shaped_dev.as_str();
        let rate = format!("{}kbit", args.rate_kbit);
        let limit = args.limit_packets.to_string();
        let latency = format!("{}ms", args.tbf_latency_ms);
        let netem = [
            "qdisc", "replace", "dev", dev, "root", "netem", "rate", &rate, "limit", &limit,
        ];
        let tbf = [
            "qdisc", "replace", "dev", dev, "root", "tbf", "rate", &rate, "burst", "3000",
            "latency", &latency,
        ];
        let used: &[&str] = match args.qdisc.as_str() {
            "netem" => {
                tc(&netem)?;
                &netem
            }
            "tbf" => {
                tc(&tbf)?;
                &tbf
            }
            _ => match tc(&netem) {
                Ok(()) => &netem,
                Err(TcError::UnknownQdisc(..)) => {
                    eprintln!("this kernel has no netem (sch_netem): shaping with tbf");
                    tc(&tbf)?;
                    &tbf
                }
                Err(e) => return Err(e.into()),
            },
        };
        Ok(Shaped {
            dev: dev.to_owned(),
            active: true,
            command: format!("tc {}", used.join(" ")),
        })
    }

    fn lift(&mut self) -> anyhow::Result<()> {
        if self.active {
            self.active = false;
            tc(&["qdisc", "del", "dev", &self.dev, "root"])?;
        }
        Ok(())
    }
}

impl Drop for Shaped {
    fn drop(&mut self) {
        if self.active {
            let _ = tc(&["qdisc", "del", "dev", &self.dev, "root"]);
        }
    }
}

/// One phase: when it ran and what counts in it.
#[derive(Debug, Clone, Copy)]
struct Phase {
    name: &'static str,
    start: Instant,
    end: Instant,
    /// Audio sent before `start + settle` is not counted.
    settle: Duration,
    /// The last part of the phase whose video layers are judged.
    window: Duration,
}

/// What arrived in one phase.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseFigures {
    /// The phase.
    pub name: String,
    /// Seconds from the start of the first phase.
    pub from_s: f64,
    /// Until, likewise.
    pub to_s: f64,
    /// Audio packets sent in the counted part of the phase.
    pub audio_sent: u64,
    /// Of those, how many arrived.
    pub audio_received: u64,
    /// `audio_received / audio_sent`.
    pub audio_delivery: f64,
    /// One-way latency of the audio that arrived in the phase, ms.
    pub audio_p50_ms: f64,
    /// 99th percentile.
    pub audio_p99_ms: f64,
    /// Likewise for video.
    pub video_p50_ms: f64,
    /// 99th percentile.
    pub video_p99_ms: f64,
    /// Video payload received per layer over the whole phase, kbit/s.
    pub video_kbps: Vec<f64>,
    /// Video payload bytes received per layer in the judged window (the
    /// phase's last part).
    pub window_bytes: Vec<u64>,
    /// Seconds from the phase's start to the first video packet of a layer
    /// above the lowest, if any.
    pub first_above_lowest_s: Option<f64>,
}

/// Every phase's figures and the verdicts.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// Per phase, in order.
    pub phases: Vec<PhaseFigures>,
    /// The `tc` command that shaped the link.
    pub shaping: String,
    /// The checks that failed, in words.
    pub failures: Vec<String>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn latencies(arrivals: &[&Arrival]) -> (f64, f64) {
    let mut ms: Vec<f64> = arrivals
        .iter()
        .map(|a| a.arrived_ns.saturating_sub(a.sent_ns) as f64 / 1e6)
        .collect();
    ms.sort_by(f64::total_cmp);
    (percentile(&ms, 0.5), percentile(&ms, 0.99))
}

/// The figures of one phase: `departures` are the mediator's, `arrivals`
/// the subscriber's (from the mediator only), `t0` the start of the first
/// phase, `layers` the number of simulcast layers.
fn figures(
    phase: &Phase,
    t0: Instant,
    departures: &[Departure],
    arrivals: &[&Arrival],
    layers: usize,
) -> PhaseFigures {
    let counted_from = tag::instant_ns(phase.start + phase.settle);
    let counted_to = tag::instant_ns(phase.end);
    let sent: HashSet<u64> = departures
        .iter()
        .filter(|d| d.source == Source::Microphone && d.ok)
        .filter(|d| d.sent_ns >= counted_from && d.sent_ns < counted_to)
        .map(|d| d.seq)
        .collect();
    let received: HashSet<u64> = arrivals
        .iter()
        .filter(|a| a.source == Source::Microphone && sent.contains(&a.seq))
        .map(|a| a.seq)
        .collect();
    let within = |a: &&&Arrival| a.at >= phase.start && a.at < phase.end;
    let audio: Vec<&Arrival> = arrivals
        .iter()
        .filter(within)
        .filter(|a| a.source == Source::Microphone)
        .copied()
        .collect();
    let video: Vec<&Arrival> = arrivals
        .iter()
        .filter(within)
        .filter(|a| a.source == Source::Camera)
        .copied()
        .collect();
    let seconds = phase
        .end
        .saturating_duration_since(phase.start)
        .as_secs_f64();
    let mut video_bytes = vec![0u64; layers];
    let mut window_bytes = vec![0u64; layers];
    let window_start = phase.end.checked_sub(phase.window).unwrap_or(phase.start);
    let mut first_above_lowest: Option<Instant> = None;
    for a in &video {
        let layer = usize::from(a.layer).min(layers.saturating_sub(1));
        video_bytes[layer] += u64::from(a.bytes);
        if a.at >= window_start {
            window_bytes[layer] += u64::from(a.bytes);
        }
        if a.layer > 0 && first_above_lowest.is_none_or(|t| a.at < t) {
            first_above_lowest = Some(a.at);
        }
    }
    let (audio_p50_ms, audio_p99_ms) = latencies(&audio);
    let (video_p50_ms, video_p99_ms) = latencies(&video);
    let since = |t: Instant| t.saturating_duration_since(t0).as_secs_f64();
    PhaseFigures {
        name: phase.name.to_owned(),
        from_s: since(phase.start),
        to_s: since(phase.end),
        audio_sent: sent.len() as u64,
        audio_received: received.len() as u64,
        audio_delivery: if sent.is_empty() {
            f64::NAN
        } else {
            received.len() as f64 / sent.len() as f64
        },
        audio_p50_ms,
        audio_p99_ms,
        video_p50_ms,
        video_p99_ms,
        video_kbps: video_bytes
            .iter()
            .map(|b| *b as f64 * 8.0 / seconds.max(1e-9) / 1000.0)
            .collect(),
        window_bytes,
        first_above_lowest_s: first_above_lowest
            .map(|t| t.saturating_duration_since(phase.start).as_secs_f64()),
    }
}

/// The layer a tile `height` allows: the lowest at least as high (the top
/// one if none is).
fn tile_layer(height: u32) -> usize {
    SIMULCAST_LAYERS
        .iter()
        .position(|l| u32::from(l.height) >= height)
        .unwrap_or(SIMULCAST_LAYERS.len() - 1)
}

/// Checks the phases' figures (unshaped, shaped, lifted); every failure in words.
fn verdicts(args: &ShapingArgs, phases: &[PhaseFigures]) -> Vec<String> {
    let mut failures = Vec::new();
    let [unshaped, shaped, lifted] = phases else {
        return vec![format!("expected three phases, got {}", phases.len())];
    };
    for p in phases {
        // NaN (nothing sent) fails too.
        if p.audio_delivery.is_nan() || p.audio_delivery < args.min_audio_delivery {
            failures.push(format!(
                "{}: audio delivery {:.2} % ({} of {}) is below {:.2} %",
                p.name,
                p.audio_delivery * 100.0,
                p.audio_received,
                p.audio_sent,
                args.min_audio_delivery * 100.0
            ));
        }
    }
    let top = tile_layer(args.tile.height);
    let window_total: u64 = unshaped.window_bytes.iter().sum();
    let upper_bytes: u64 = unshaped.window_bytes.iter().skip(1).sum();
    let beyond_top: u64 = unshaped.window_bytes.iter().skip(top + 1).sum();
    let top_kbps = unshaped.video_kbps.get(top).copied().unwrap_or(0.0);
    if window_total == 0 {
        failures.push(format!(
            "{}: no video arrived in its last {} s",
            unshaped.name, args.top_window_seconds
        ));
    } else {
        if top > 0 && (upper_bytes as f64) < args.min_upper_share * window_total as f64 {
            failures.push(format!(
                "{}: in its last {} s only {:.0} % of the video came from layers above the lowest (bytes per layer {:?})",
                unshaped.name,
                args.top_window_seconds,
                upper_bytes as f64 * 100.0 / window_total as f64,
                unshaped.window_bytes
            ));
        }
        if beyond_top > 0 {
            failures.push(format!(
                "{}: in its last {} s video came from layers above {} ({}), the top layer a {}x{} tile allows (bytes per layer {:?})",
                unshaped.name,
                args.top_window_seconds,
                top,
                SIMULCAST_LAYERS[top].rid,
                args.tile.width,
                args.tile.height,
                unshaped.window_bytes
            ));
        }
    }
    if top_kbps <= 0.0 {
        failures.push(format!(
            "{}: layer {} ({}), the top layer a {}x{} tile allows, never arrived (kbit/s per layer {:?})",
            unshaped.name,
            top,
            SIMULCAST_LAYERS[top].rid,
            args.tile.width,
            args.tile.height,
            unshaped
                .video_kbps
                .iter()
                .map(|k| k.round())
                .collect::<Vec<_>>()
        ));
    }
    let above_lowest: u64 = shaped.window_bytes.iter().skip(1).sum();
    if above_lowest > 0 {
        failures.push(format!(
            "{}: in its last {} s video came from layers above the lowest (bytes per layer {:?})",
            shaped.name, args.low_window_seconds, shaped.window_bytes
        ));
    }
    if lifted.first_above_lowest_s.is_none() {
        failures.push(format!(
            "{}: video did not climb back above the lowest layer (kbit/s per layer {:?})",
            lifted.name,
            lifted
                .video_kbps
                .iter()
                .map(|k| k.round())
                .collect::<Vec<_>>()
        ));
    }
    failures
}

fn cell(x: f64, digits: usize) -> String {
    if x.is_finite() {
        format!("{x:.digits$}")
    } else {
        "–".to_owned()
    }
}

/// The summary table; `shaping`: the `tc` command that shaped the link.
fn summary(args: &ShapingArgs, shaping: &str, phases: &[PhaseFigures]) -> String {
    let mut out = String::new();
    let rids: Vec<&str> = SIMULCAST_LAYERS.iter().map(|l| l.rid).collect();
    let _ = writeln!(
        out,
        "\n| phase | seconds | audio delivery | audio p50 / p99 ms | video p50 / p99 ms | kbit/s {} | judged window: bytes {} | first above {} |",
        rids.join(" / "),
        rids.join(" / "),
        rids[0]
    );
    let _ = writeln!(
        out,
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for p in phases {
        let _ = writeln!(
            out,
            "| {} | {:.1}–{:.1} | {} % ({}/{}) | {} / {} | {} / {} | {} | {} | {} |",
            p.name,
            p.from_s,
            p.to_s,
            cell(p.audio_delivery * 100.0, 2),
            p.audio_received,
            p.audio_sent,
            cell(p.audio_p50_ms, 1),
            cell(p.audio_p99_ms, 1),
            cell(p.video_p50_ms, 1),
            cell(p.video_p99_ms, 1),
            p.video_kbps
                .iter()
                .map(|k| cell(*k, 0))
                .collect::<Vec<_>>()
                .join(" / "),
            p.window_bytes
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" / "),
            p.first_above_lowest_s
                .map_or_else(|| "–".to_owned(), |s| format!("{s:.1} s")),
        );
    }
    let _ = writeln!(
        out,
        "\nshaped with `{shaping}`; audio counted after {} s (shaped) / {} s (others); judged windows: last {} s (unshaped, {:.0} % above the lowest layer, none above {}; {} must arrive for a {}x{} tile), last {} s (shaped, lowest layer or none)",
        args.shaped_settle_seconds,
        args.settle_seconds,
        args.top_window_seconds,
        args.min_upper_share * 100.0,
        SIMULCAST_LAYERS[tile_layer(args.tile.height)].rid,
        SIMULCAST_LAYERS[tile_layer(args.tile.height)].rid,
        args.tile.width,
        args.tile.height,
        args.low_window_seconds,
    );
    out
}

/// Joins the mediator (here) and the subscriber (in the namespace), admits
/// the subscriber, runs the three phases and checks them.
pub async fn run(args: ShapingArgs) -> anyhow::Result<()> {
    let step = Duration::from_secs(args.step_timeout);
    let netns = NetnsRuntime::enter(&args.netns)?;
    let mut api = Accord::connect(args.accord.clone(), args.accord_outbox.clone())
        .await
        .context("signing in to Accord's demo organization")?;
    let session = api.new_session(1).await.context("making a session")?;
    let party = api.parties.first().cloned().context("no party account")?;

    // Generous logs: a minute of every packet.
    let log = 200_000;
    let mut mediator_config = BotConfig::new(args.accord.clone(), session);
    mediator_config.publish_audio = true;
    mediator_config.publish_video = true;
    mediator_config.simulcast = true;
    mediator_config.bind_ip = Some(args.mediator_ip);
    mediator_config.step_timeout = step;
    mediator_config.departure_log = log;
    mediator_config.e2ee = args.e2ee;
    let key = device::generate();
    let token = api
        .mediator
        .join_token(session, device::jwk(key.verifying_key()))
        .await?;
    let mediator = Bot::join(mediator_config, token, key)
        .await
        .context("the mediator joining")?;
    anyhow::ensure!(
        mediator.camera_layers() == SIMULCAST_LAYERS.len(),
        "the SFU's answer did not accept the mediator's simulcast camera (it sends {} layer(s))",
        mediator.camera_layers()
    );

    let mut subscriber_config = BotConfig::new(args.accord.clone(), session);
    subscriber_config.publish_audio = false;
    subscriber_config.publish_video = false;
    subscriber_config.bind_ip = Some(args.subscriber_ip);
    subscriber_config.step_timeout = step;
    subscriber_config.arrival_log = log;
    subscriber_config.e2ee = args.e2ee;
    let key = device::generate();
    let token = party
        .join_token(session, device::jwk(key.verifying_key()))
        .await?;
    let subscriber = netns
        .run(Bot::join(subscriber_config, token, key))
        .await?
        .context("the subscriber joining (in the namespace)")?;
    let result = phases(&args, &mediator, &subscriber).await;
    // The subscriber's connection is driven in the namespace: closed there.
    let _ = netns.run(subscriber.close()).await;
    mediator.close().await;
    drop(netns);
    let outcome = result?;
    print!("{}", summary(&args, &outcome.shaping, &outcome.phases));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&outcome)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if outcome.failures.is_empty() {
        println!("all checks passed");
        Ok(())
    } else {
        for f in &outcome.failures {
            println!("FAILED: {f}");
        }
        anyhow::bail!(
            "{} check(s) failed:\n{}",
            outcome.failures.len(),
            outcome.failures.join("\n")
        )
    }
}

async fn phases(args: &ShapingArgs, mediator: &Bot, subscriber: &Bot) -> anyhow::Result<Outcome> {
    let step = Duration::from_secs(args.step_timeout);
    let participant = subscriber.participant();
    mediator
        .messages()
        .wait_for_message(
            step,
            |m| matches!(m, ServerMessage::Knock { participant: p } if *p == participant),
        )
        .await
        .context("waiting for the subscriber's knock")?;
    mediator.send(&ClientMessage::Admit { participant }).await?;
    mediator
        .connected(step)
        .await
        .context("the mediator's media")?;
    subscriber
        .connected(step)
        .await
        .context("the subscriber's media")?;
    let them = mediator.participant();
    let tile = args.tile;
    // Queued for the subscriber's WebSocket, which its task (in the
    // namespace) writes.
    subscriber
        .tile(them, Source::Camera, tile.width, tile.height)
        .await?;

    // Start once audio and video flow.
    let deadline = Instant::now() + step;
    loop {
        let report = subscriber.report();
        if report.packets_from(them, Source::Microphone) > 0
            && report.packets_from(them, Source::Camera) > 0
        {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no media from the mediator reached the subscriber within {} s: {report:?}",
            args.step_timeout
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "media flows; unshaped for {} s, shaped to {} kbit/s for {} s, lifted for {} s",
        args.unshaped_seconds, args.rate_kbit, args.shaped_seconds, args.lifted_seconds
    );
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.unshaped_seconds)).await;
    let t1 = Instant::now();
    let mut shaped = Shaped::apply(args)?;
    eprintln!("shaped: {}", shaped.command);
    tokio::time::sleep(Duration::from_secs(args.shaped_seconds)).await;
    let t2 = Instant::now();
    shaped.lift()?;
    eprintln!("lifted the limit");
    tokio::time::sleep(Duration::from_secs(args.lifted_seconds)).await;
    let t3 = Instant::now();
    // Let what is on its way arrive.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let departures = mediator.departures();
    let arrivals = subscriber.arrivals();
    let from_mediator: Vec<&Arrival> = arrivals.iter().filter(|a| a.sender == them).collect();
    let report = subscriber.report();
    anyhow::ensure!(
        report.untagged_packets == 0 && report.mislabeled_packets == 0,
        "the subscriber received {} untagged and {} mislabeled packets",
        report.untagged_packets,
        report.mislabeled_packets
    );
    let settle = Duration::from_secs(args.settle_seconds);
    let phases = [
        Phase {
            name: "(a) unshaped",
            start: t0,
            end: t1,
            settle,
            window: Duration::from_secs(args.top_window_seconds),
        },
        Phase {
            name: "(b) shaped",
            start: t1,
            end: t2,
            settle: Duration::from_secs(args.shaped_settle_seconds),
            window: Duration::from_secs(args.low_window_seconds),
        },
        Phase {
            name: "(c) lifted",
            start: t2,
            end: t3,
            settle,
            window: Duration::from_secs(args.lifted_seconds),
        },
    ];
    let figures: Vec<PhaseFigures> = phases
        .iter()
        .map(|p| figures(p, t0, &departures, &from_mediator, SIMULCAST_LAYERS.len()))
        .collect();
    let failures = verdicts(args, &figures);
    let sent: BTreeMap<String, u64> = mediator
        .report()
        .sent_layers
        .iter()
        .map(|l| (format!("{}/{}", l.source, l.layer), l.sent.packets))
        .collect();
    eprintln!("the mediator sent (packets per source/layer): {sent:?}");
    Ok(Outcome {
        phases: figures,
        shaping: shaped.command.clone(),
        failures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn tile_sizes_parse() {
        assert_eq!(
            "1280x720".parse::<TileSize>(),
            Ok(TileSize {
                width: 1280,
                height: 720
            })
        );
        assert_eq!("320X180".parse::<TileSize>().map(|t| t.height), Ok(180));
        assert!("1280".parse::<TileSize>().is_err());
        assert!("ax1".parse::<TileSize>().is_err());
        assert!("-1x1".parse::<TileSize>().is_err());
    }

    #[test]
    fn tiles_choose_layers() {
        assert_eq!(tile_layer(720), 2);
        assert_eq!(tile_layer(1080), 2);
        assert_eq!(tile_layer(360), 1);
        assert_eq!(tile_layer(200), 1);
        assert_eq!(tile_layer(180), 0);
        assert_eq!(tile_layer(0), 0);
    }

    fn arrival(at: Instant, source: Source, layer: u8, seq: u64, bytes: u32) -> Arrival {
        let sent_ns = tag::instant_ns(at).saturating_sub(5_000_000);
        Arrival {
            at,
            arrived_ns: tag::instant_ns(at),
            sender: Uuid::from_u128(1),
            source,
            layer,
            seq,
            sent_ns,
            bytes,
        }
    }

    fn departure(at: Instant, seq: u64) -> Departure {
        Departure {
            source: Source::Microphone,
            layer: 0,
            seq,
            sent_ns: tag::instant_ns(at),
            bytes: 100,
            ok: true,
        }
    }

    #[test]
    fn phases_are_measured_from_the_tags() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let phase = Phase {
            name: "p",
            start: t0,
            end: ms(10_000),
            settle: Duration::from_secs(2),
            window: Duration::from_secs(3),
        };
        // Audio every 20 ms over the phase (500), one in ten lost after
        // 5 s, and a late one sent in the phase arriving after it.
        let departures: Vec<Departure> = (0..500).map(|i| departure(ms(i * 20), i)).collect();
        let mut arrivals: Vec<Arrival> = (0..500)
            .filter(|i| *i < 250 || i % 10 != 0)
            .map(|i| arrival(ms(i * 20 + 5), Source::Microphone, 0, i, 100))
            .collect();
        arrivals.push(arrival(ms(10_500), Source::Microphone, 0, 499, 100));
        // Video: layer 2 for 6 s, then layer 0; 1000 bytes every 10 ms.
        for i in 0..1000u64 {
            let layer = if i < 600 { 2 } else { 0 };
            arrivals.push(arrival(ms(i * 10), Source::Camera, layer, i, 1000));
        }
        let refs: Vec<&Arrival> = arrivals.iter().collect();
        let f = figures(&phase, t0, &departures, &refs, 3);
        // Counted: sent from 2 s on (seq 100..500) = 400; lost: 250..500 in tens = 25.
        assert_eq!(f.audio_sent, 400);
        assert_eq!(f.audio_received, 375);
        assert!((f.audio_delivery - 375.0 / 400.0).abs() < 1e-9);
        assert!((f.audio_p50_ms - 5.0).abs() < 0.01, "{f:?}");
        // 400 packets of 1000 bytes at layer 0 over 10 s: 320 kbit/s.
        assert!((f.video_kbps[0] - 320.0).abs() < 1e-6, "{f:?}");
        assert!((f.video_kbps[2] - 480.0).abs() < 1e-6, "{f:?}");
        assert_eq!(f.video_kbps[1], 0.0);
        // The last 3 s: layer 0 only.
        assert_eq!(f.window_bytes, vec![300_000, 0, 0]);
        assert_eq!(f.first_above_lowest_s, Some(0.0));
        assert_eq!((f.from_s, f.to_s), (0.0, 10.0));
    }

    fn args() -> ShapingArgs {
        ShapingArgs {
            accord: Url::parse("http://198.20.0.1:38080/").expect("a URL"),
            accord_outbox: PathBuf::from("/tmp/outbox"),
            netns: "accordshape".into(),
            subscriber_ip: "198.20.0.2".parse().expect("an address"),
            mediator_ip: "198.20.0.1".parse().expect("an address"),
            shaped_dev: "accshape0".into(),
            rate_kbit: 300,
            limit_packets: 40,
            qdisc: "auto".into(),
            tbf_latency_ms: 500,
            unshaped_seconds: 10,
            shaped_seconds: 20,
            lifted_seconds: 20,
            shaped_settle_seconds: 5,
            settle_seconds: 2,
            low_window_seconds: 8,
            top_window_seconds: 3,
            min_upper_share: 0.9,
            tile: TileSize {
                width: 1280,
                height: 720,
            },
            min_audio_delivery: 0.99,
            step_timeout: 20,
            json: None,
            e2ee: true,
        }
    }

    fn phase(name: &str, delivery: f64, window: [u64; 3], climbed: bool) -> PhaseFigures {
        PhaseFigures {
            name: name.into(),
            audio_sent: 100,
            audio_received: (delivery * 100.0) as u64,
            audio_delivery: delivery,
            window_bytes: window.to_vec(),
            // Over the phase, every layer the window holds arrived.
            video_kbps: window
                .iter()
                .map(|&b| if b > 0 { 100.0 } else { 0.0 })
                .collect(),
            first_above_lowest_s: climbed.then_some(3.0),
            ..PhaseFigures::default()
        }
    }

    #[test]
    fn verdicts_name_what_failed() {
        let a = args();
        let good = [
            phase("(a)", 1.0, [0, 0, 9000], true),
            phase("(b)", 0.995, [4000, 0, 0], true),
            phase("(c)", 1.0, [0, 0, 9000], true),
        ];
        assert!(verdicts(&a, &good).is_empty(), "{:?}", verdicts(&a, &good));
        // Paused video in the shaped window is fine too.
        let mut paused = good.clone();
        paused[1].window_bytes = vec![0, 0, 0];
        assert!(verdicts(&a, &paused).is_empty());

        let bad = [
            phase("(a)", 0.98, [5000, 0, 5000], true),
            phase("(b)", f64::NAN, [4000, 10, 0], true),
            phase("(c)", 1.0, [9000, 0, 0], false),
        ];
        let failures = verdicts(&a, &bad);
        assert_eq!(failures.len(), 5, "{failures:#?}");
        assert!(
            failures[0].starts_with("(a): audio delivery 98.00 %"),
            "{failures:?}"
        );
        assert!(
            failures[1].starts_with("(b): audio delivery"),
            "{failures:?}"
        );
        assert!(
            failures[2].contains("only 50 % of the video came from layers above the lowest"),
            "{failures:?}"
        );
        assert!(
            failures[3].contains("layers above the lowest"),
            "{failures:?}"
        );
        assert!(failures[4].contains("did not climb back"), "{failures:?}");
        // No video at all while unshaped fails.
        let mut silent = good.clone();
        silent[0].window_bytes = vec![0, 0, 0];
        assert!(verdicts(&a, &silent)[0].contains("no video arrived"));
        // The top layer arrived earlier in the phase, then the estimate
        // dipped and the SFU stepped down to the middle layer: fine.
        let mut dipped = good.clone();
        dipped[0].window_bytes = vec![0, 9000, 0];
        dipped[0].video_kbps = vec![0.0, 400.0, 240.0];
        assert!(
            verdicts(&a, &dipped).is_empty(),
            "{:?}",
            verdicts(&a, &dipped)
        );
        // A small tile makes the middle layer the top one.
        let mut small = args();
        small.tile = TileSize {
            width: 640,
            height: 360,
        };
        let mut middle = good.clone();
        middle[0].window_bytes = vec![0, 9000, 0];
        middle[0].video_kbps = vec![0.0, 400.0, 0.0];
        assert!(verdicts(&small, &middle).is_empty());
        // The big tile's top layer never arrived.
        let never = verdicts(&a, &middle);
        assert_eq!(never.len(), 1, "{never:?}");
        assert!(
            never[0].contains("layer 2 (f), the top layer a 1280x720 tile allows, never arrived"),
            "{never:?}"
        );
        // The small tile gets nothing above its top layer.
        let mut over = good.clone();
        over[0].window_bytes = vec![0, 4000, 5000];
        over[0].video_kbps = vec![0.0, 100.0, 100.0];
        let too_high = verdicts(&small, &over);
        assert_eq!(too_high.len(), 1, "{too_high:?}");
        assert!(
            too_high[0].contains("video came from layers above 1 (h)"),
            "{too_high:?}"
        );
        let table = summary(&a, "tc qdisc replace …", &good);
        assert!(
            table.contains("| (b) | 0.0–0.0 | 99.50 % (99/100)"),
            "{table}"
        );
        assert!(
            table.contains("shaped with `tc qdisc replace …`"),
            "{table}"
        );
    }
}
