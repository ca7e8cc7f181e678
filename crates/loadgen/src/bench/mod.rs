//! `accord-loadgen bench`: the same bots with the same synthetic media against
//! Accord's SFU and Janus's videoroom, in one run, with a table of
//! Accord / Janus ratios (see `docs/PERFORMANCE.md` and `scripts/bench`).
//!
//! Per target and scenario: every participant joins (one after the other),
//! the run warms up, then over a measured window: packets received by the
//! bots per second (what the SFU forwarded and delivered), the SFU process's
//! CPU seconds (`/proc/<pid>/stat` utime+stime) per million of them, the
//! delivery ratio (received / what the publishers sent times the number of
//! receivers), one-way latency percentiles from the tags, the SFU's resident
//! memory growth per participant, the bots' own CPU seconds per million
//! packets (what end-to-end encryption adds to a client shows as the
//! difference between `--e2ee` runs and runs without), and the time from
//! starting to join to the first tagged packet received.

pub mod accord;
pub mod janus;
pub mod janus_bot;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use accord_sfu_core::protocol::{ClientMessage, ServerMessage};
use anyhow::Context as _;
use serde::Serialize;
use url::Url;
use uuid::Uuid;

use crate::media::video_plan;
use crate::tag::Source;
use crate::{device, tag, Bot, BotConfig, Report};
use janus_bot::JanusBot;

/// The `bench` subcommand's options.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Accord's HTTP address (API and signaling), e.g. http://198.18.0.2:8080/.
    #[arg(long)]
    pub accord: Option<Url>,
    /// The pid of the `accord` process (its SFU) to measure.
    #[arg(long)]
    pub accord_pid: Option<u32>,
    /// Accord's file outbox (`outbox.dir`), where party setup links land.
    #[arg(long)]
    pub accord_outbox: Option<PathBuf>,
    /// Janus's HTTP API, e.g. http://198.18.0.2:8088/janus.
    #[arg(long)]
    pub janus: Option<String>,
    /// The pid of the `janus` process to measure.
    #[arg(long)]
    pub janus_pid: Option<u32>,
    /// The bots' local address for media (the host side of the veth pair).
    #[arg(long)]
    pub bind: IpAddr,
    /// Scenarios, in order: smoke, meeting, fanout50, fanout100, fanout200,
    /// sessions (or fanoutN for any N, sessionsN for N sessions of 4).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "meeting,fanout50,fanout100,fanout200,sessions"
    )]
    pub scenarios: Vec<String>,
    /// Seconds between the last join and the measured window.
    #[arg(long, default_value_t = 5)]
    pub warmup: u64,
    /// Length of the measured window, seconds.
    #[arg(long, default_value_t = 20)]
    pub duration: u64,
    /// Runs per scenario and target; the table shows medians.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Camera bit rate, kbit/s.
    #[arg(long, default_value_t = 1200)]
    pub video_kbps: u32,
    /// Video frames per second.
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
    /// How long each joining step may take, seconds.
    #[arg(long, default_value_t = 20)]
    pub step_timeout: u64,
    /// Write every run's figures here as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Which targets to measure (of those given).
    #[arg(long, value_delimiter = ',', default_value = "accord,janus")]
    pub targets: Vec<String>,
    /// Print, per participant, what it received from whom over the window.
    #[arg(long)]
    pub verbose: bool,
    /// Fail unless every target delivered at least this fraction of packets.
    #[arg(long, default_value_t = 0.0)]
    pub min_delivery: f64,
    /// Accord's bots encrypt their media end to end (SFrame, keys relayed by
    /// the SFU), as browsers do; Janus's bots never do.
    #[arg(long)]
    pub e2ee: bool,
}

/// One scenario: `sessions` rooms of `publishers` publishing participants
/// and `subscribers` receive-only ones, everyone receiving everyone else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scenario {
    /// Its name.
    pub name: String,
    /// Sessions (rooms) at once.
    pub sessions: usize,
    /// Participants publishing audio and camera video, per session.
    pub publishers: usize,
    /// Participants publishing nothing, per session.
    pub subscribers: usize,
}

impl Scenario {
    /// Parses a scenario name.
    pub fn parse(name: &str) -> anyhow::Result<Scenario> {
        let (sessions, publishers, subscribers) = match name {
            "smoke" => (1, 2, 0),
            "meeting" => (1, 6, 0),
            "sessions" => (40, 4, 0),
            other => {
                if let Some(n) = other.strip_prefix("fanout") {
                    (1, 1, n.parse().context("fanoutN: N subscribers")?)
                } else if let Some(n) = other.strip_prefix("sessions") {
                    (n.parse().context("sessionsN: N sessions")?, 4, 0)
                } else {
                    anyhow::bail!("unknown scenario {other}")
                }
            }
        };
        Ok(Scenario {
            name: name.to_owned(),
            sessions,
            publishers,
            subscribers,
        })
    }

    fn per_session(&self) -> usize {
        self.publishers + self.subscribers
    }

    /// Every participant.
    pub fn participants(&self) -> usize {
        self.sessions * self.per_session()
    }
}

/// What one target did in one scenario run.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Figures {
    /// Tagged packets received by all bots per second of the window.
    pub forwarded_pps: f64,
    /// SFU CPU seconds per million of those packets.
    pub cpu_s_per_mpkt: f64,
    /// SFU CPU use over the window, in cores.
    pub cpu_cores: f64,
    /// Received / expected over the window.
    pub delivery: f64,
    /// One-way latency percentiles over the window, milliseconds.
    pub latency_p50_ms: f64,
    /// 99th percentile.
    pub latency_p99_ms: f64,
    /// 99th percentile of the microphone's packets alone (audio is not
    /// paced; video may wait in a pacer), milliseconds.
    pub audio_latency_p99_ms: f64,
    /// SFU resident memory growth from before the first join to the end of
    /// the window, KiB per participant.
    pub rss_kib_per_participant: f64,
    /// The bots' own CPU seconds (this process: sending, receiving, and with
    /// end-to-end encryption sealing and opening every frame) per million
    /// packets received, over the window: what encryption adds to a client.
    pub bots_cpu_s_per_mpkt: f64,
    /// Median time from starting to join to the first tagged packet, ms
    /// (everyone but the first to join).
    pub first_packet_p50_ms: f64,
    /// Accord only (NaN for Janus), from its `/metrics` histograms over the
    /// window (interpolated within buckets), microseconds: the SFU's wait
    /// from a datagram's arrival at its host (the kernel's receive time) to
    /// reading it (`accord_sfu_datagram_read_wait_seconds`), median.
    pub sfu_read_wait_p50_us: f64,
    /// 99th percentile.
    pub sfu_read_wait_p99_us: f64,
    /// From the arrival to the end of the turn that handled the datagram,
    /// when what it caused and is not paced had been sent
    /// (`accord_sfu_datagram_turn_seconds`), median.
    pub sfu_turn_p50_us: f64,
    /// 99th percentile.
    pub sfu_turn_p99_us: f64,
    /// Participants.
    pub participants: usize,
}

/// A participant of either target.
enum Peer {
    Accord(Bot),
    Janus(Box<JanusBot>),
}

impl Peer {
    fn report(&self) -> Report {
        match self {
            Peer::Accord(b) => b.report(),
            Peer::Janus(b) => b.report(),
        }
    }

    fn arrivals(&self) -> Vec<crate::Arrival> {
        match self {
            Peer::Accord(b) => b.arrivals(),
            Peer::Janus(b) => b.arrivals(),
        }
    }

    async fn close(self) {
        match self {
            Peer::Accord(b) => b.close().await,
            Peer::Janus(b) => b.close().await,
        }
    }
}

struct Member {
    peer: Peer,
    session: usize,
    joined_ns: u64,
    /// When its join returned (signalling done, its offer answered).
    ready_ns: u64,
    /// When the mediator's admission of it was sent (Accord; its join for
    /// Janus, which has no lobby).
    admitted_ns: u64,
    first: bool,
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_seconds(pid: u32, ticks: f64) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat (is the SFU running?)"))?;
    // Fields after the command name, which ends with the last ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow::anyhow!("unexpected /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    let utime: f64 = fields.get(11).context("utime")?.parse()?;
    let stime: f64 = fields.get(12).context("stime")?.parse()?;
    Ok((utime + stime) / ticks)
}

/// Resident memory of a process, KiB.
fn rss_kib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for {pid}"))
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The `q` quantile of what a cumulative histogram (`(upper bound,
/// count)`, ascending) gained from `before` to `after`, interpolated
/// linearly within its bucket as Prometheus's `histogram_quantile` does (the
/// lowest bucket from 0; a quantile in the last, unbounded one is the
/// highest finite bound). NaN without observations.
fn histogram_quantile(before: &[(f64, u64)], after: &[(f64, u64)], q: f64) -> f64 {
    let delta: Vec<(f64, f64)> = after
        .iter()
        .map(|(le, n)| {
            let earlier = before.iter().find(|(b, _)| b == le).map_or(0, |(_, m)| *m);
            (*le, n.saturating_sub(earlier) as f64)
        })
        .collect();
    let total = delta.last().map_or(0.0, |(_, n)| *n);
    if total == 0.0 {
        return f64::NAN;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for (le, n) in delta {
        if n >= rank {
            if le.is_infinite() {
                return lower;
            }
            let share = if n > below {
                (rank - below) / (n - below)
            } else {
                1.0
            };
            return lower + (le - lower) * share;
        }
        (lower, below) = (le, n);
    }
    lower
}

fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Packets per second one publisher sends (audio every 20 ms, camera video).
fn publisher_pps(args: &BenchArgs) -> f64 {
    let (_, per_frame) = video_plan(args.video_kbps, args.fps, 1100);
    50.0 + f64::from(args.fps) * per_frame as f64
}

/// Server messages each bench bot keeps: enough for the mediator to see a
/// knock among the states a join causes.
const BENCH_MESSAGE_HISTORY: usize = 256;

fn bot_config(
    args: &BenchArgs,
    base: Url,
    session: Uuid,
    publishes: bool,
    log: usize,
) -> BotConfig {
    let mut config = BotConfig::new(base, session);
    config.publish_audio = publishes;
    config.publish_video = publishes;
    config.video_kbps = args.video_kbps;
    config.video_fps = args.fps;
    config.bind_ip = Some(args.bind);
    config.step_timeout = Duration::from_secs(args.step_timeout);
    config.arrival_log = log;
    // Bench bots read no old messages; a big room's states are large.
    config.message_history = BENCH_MESSAGE_HISTORY;
    config.e2ee = args.e2ee;
    config
}

/// How many arrivals a bot must keep to cover the window.
fn log_capacity(args: &BenchArgs, scenario: &Scenario, publishes: bool) -> usize {
    let senders = scenario.publishers - usize::from(publishes);
    let per_s = senders as f64 * publisher_pps(args);
    (per_s * (args.duration as f64 + 2.0) * 1.2) as usize + 1000
}

/// The Accord bot of a member of an Accord run.
fn accord_bot(member: &Member) -> &Bot {
    match &member.peer {
        Peer::Accord(bot) => bot,
        Peer::Janus(_) => unreachable!("a member of an Accord run is an Accord bot"),
    }
}

async fn join_accord(
    args: &BenchArgs,
    api: &mut accord::Accord,
    scenario: &Scenario,
) -> anyhow::Result<Vec<Member>> {
    let base = args.accord.clone().context("--accord")?;
    let mut members = Vec::new();
    for s in 0..scenario.sessions {
        let session = api.new_session(scenario.per_session() - 1).await?;
        let mut mediator_pos = None;
        for i in 0..scenario.per_session() {
            let publishes = i < scenario.publishers;
            let client = if i == 0 {
                &api.mediator
            } else {
                &api.parties[i - 1]
            };
            let key = device::generate();
            let token = client
                .join_token(session, device::jwk(key.verifying_key()))
                .await?;
            let config = bot_config(
                args,
                base.clone(),
                session,
                publishes,
                log_capacity(args, scenario, publishes),
            );
            // The mediator's messages from before this join on: its knock.
            let knocks = mediator_pos.map(|pos| accord_bot(&members[pos]).messages_from_now());
            let joined_ns = tag::now_ns();
            let bot = Bot::join(config, token, key)
                .await
                .with_context(|| format!("Accord: participant {i} of session {s} joining"))?;
            let ready_ns = tag::now_ns();
            let mut admitted_ns = ready_ns;
            if let (Some(pos), Some(mut knocks)) = (mediator_pos, knocks) {
                let mediator = accord_bot(&members[pos]);
                let participant = bot.participant();
                knocks
                    .wait_for_message(Duration::from_secs(args.step_timeout), |m| {
                        matches!(m, ServerMessage::Knock { participant: p } if *p == participant)
                    })
                    .await
                    .context("Accord: waiting for the knock")?;
                mediator.send(&ClientMessage::Admit { participant }).await?;
                admitted_ns = tag::now_ns();
            } else {
                mediator_pos = Some(members.len());
            }
            members.push(Member {
                peer: Peer::Accord(bot),
                session: s,
                joined_ns,
                ready_ns,
                admitted_ns,
                first: i == 0,
            });
        }
    }
    let timeout = Duration::from_secs(args.step_timeout);
    for m in &members {
        if let Peer::Accord(b) = &m.peer {
            b.connected(timeout).await?;
        }
    }
    Ok(members)
}

async fn join_janus(
    args: &BenchArgs,
    scenario: &Scenario,
    rooms: &mut Vec<u64>,
) -> anyhow::Result<Vec<Member>> {
    let url = args.janus.clone().context("--janus")?;
    let timeout = Duration::from_secs(args.step_timeout);
    let placeholder = Url::parse("ws://janus.invalid/")?;
    let mut members: Vec<Member> = Vec::new();
    for s in 0..scenario.sessions {
        let room = 1_000_000 + u64::from(rand::random::<u32>());
        janus_bot::create_room(&url, room, scenario.publishers, timeout).await?;
        rooms.push(room);
        let start = members.len();
        for i in 0..scenario.per_session() {
            let publishes = i < scenario.publishers;
            let config = bot_config(
                args,
                placeholder.clone(),
                Uuid::nil(),
                publishes,
                log_capacity(args, scenario, publishes),
            );
            let joined_ns = tag::now_ns();
            let mut bot = JanusBot::new(&url, room, config).await?;
            let feeds: Vec<u64> = members[start..]
                .iter()
                .filter_map(|m| match &m.peer {
                    Peer::Janus(b) => b.feed(),
                    Peer::Accord(_) => None,
                })
                .collect();
            if publishes {
                let feed = bot
                    .publish()
                    .await
                    .with_context(|| format!("Janus: participant {i} of room {s} publishing"))?;
                for m in &mut members[start..] {
                    if let Peer::Janus(other) = &mut m.peer {
                        other
                            .subscribe(&[feed])
                            .await
                            .context("Janus: subscribing to a new publisher")?;
                    }
                }
            }
            bot.subscribe(&feeds)
                .await
                .with_context(|| format!("Janus: participant {i} of room {s} subscribing"))?;
            // No lobby: ready and admitted once subscribed.
            let ready_ns = tag::now_ns();
            members.push(Member {
                peer: Peer::Janus(Box::new(bot)),
                session: s,
                joined_ns,
                ready_ns,
                admitted_ns: ready_ns,
                first: i == 0,
            });
        }
    }
    for m in &members {
        if let Peer::Janus(b) = &m.peer {
            b.connected(timeout).await?;
        }
    }
    Ok(members)
}

fn received(reports: &[Report]) -> u64 {
    reports
        .iter()
        .flat_map(|r| r.streams.iter())
        .map(|s| s.packets)
        .sum()
}

/// Packets the publishers of each session sent, times the others in it.
fn expected(members: &[Member], reports: &[Report], per_session: usize) -> u64 {
    members
        .iter()
        .zip(reports)
        .map(|(_, r)| {
            let sent: u64 = r.sent.values().map(|s| s.packets).sum();
            sent * (per_session as u64 - 1)
        })
        .sum()
}

/// Joins everyone, warms up, measures, leaves.
async fn measure(
    args: &BenchArgs,
    scenario: &Scenario,
    target: &str,
    api: Option<&mut accord::Accord>,
    ticks: f64,
) -> anyhow::Result<Figures> {
    let pid = match target {
        "accord" => args.accord_pid.context("--accord-pid")?,
        _ => args.janus_pid.context("--janus-pid")?,
    };
    let rss_before = rss_kib(pid)?;
    let mut rooms = Vec::new();
    let joined = match api {
        Some(api) => join_accord(args, api, scenario).await,
        None => join_janus(args, scenario, &mut rooms).await,
    };
    let members = match joined {
        Ok(m) => m,
        Err(e) => {
            if let Some(url) = &args.janus {
                for room in rooms {
                    janus_bot::destroy_room(url, room, Duration::from_secs(5)).await;
                }
            }
            return Err(e);
        }
    };
    eprintln!(
        "  {target}: {} participants joined; warming up {} s",
        members.len(),
        args.warmup
    );
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;

    let metrics0 = match (target, &args.accord) {
        ("accord", Some(base)) => Some(accord::metrics(base).await?),
        _ => None,
    };
    let t0 = Instant::now();
    let cpu0 = cpu_seconds(pid, ticks)?;
    let bots_cpu0 = cpu_seconds(std::process::id(), ticks)?;
    let before: Vec<Report> = members.iter().map(|m| m.peer.report()).collect();
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    let cpu1 = cpu_seconds(pid, ticks)?;
    let bots_cpu1 = cpu_seconds(std::process::id(), ticks)?;
    let after: Vec<Report> = members.iter().map(|m| m.peer.report()).collect();
    let t1 = Instant::now();
    let rss_after = rss_kib(pid)?;
    let window = (t1 - t0).as_secs_f64();
    let metrics = match (metrics0, &args.accord) {
        (Some(before), Some(base)) => Some((before, accord::metrics(base).await?)),
        _ => None,
    };
    // The p50 and p99 of one histogram over the window, µs (NaN for Janus).
    let sfu_us = |name: &str| -> anyhow::Result<(f64, f64)> {
        Ok(match &metrics {
            Some((before, after)) => {
                let (b, a) = (
                    accord::histogram(before, name)?,
                    accord::histogram(after, name)?,
                );
                let us = |q| histogram_quantile(&b, &a, q) * 1e6;
                (us(0.5), us(0.99))
            }
            None => (f64::NAN, f64::NAN),
        })
    };
    let read_wait = sfu_us("accord_sfu_datagram_read_wait_seconds")?;
    let turn = sfu_us("accord_sfu_datagram_turn_seconds")?;

    if args.verbose {
        for (i, (b, a)) in before.iter().zip(&after).enumerate() {
            let mut line = format!("    {target} participant {i}:");
            for s in &a.streams {
                let earlier = b.stream(s.sender, s.source).map_or(0, |x| x.packets);
                let _ = write!(
                    line,
                    " {}/{}={}",
                    &s.sender.to_string()[..8],
                    s.source,
                    s.packets - earlier
                );
            }
            let sent: u64 = a.sent.values().map(|x| x.packets).sum::<u64>()
                - b.sent.values().map(|x| x.packets).sum::<u64>();
            let _ = write!(line, " sent={sent}");
            eprintln!("{line}");
        }
        // Where a newcomer's first packet waits: ms from its join's start to
        // its join returning, its admission, the server's first offer
        // arriving, its answer leaving, and its first packet (and which).
        for (i, (m, r)) in members.iter().zip(&after).enumerate() {
            if m.first {
                continue;
            }
            let ms = |ns: u64| ns.saturating_sub(m.joined_ns) as f64 / 1e6;
            let first = r.streams.iter().min_by_key(|s| s.first_arrival_ns);
            let (offered, answered) = r
                .first_offer_ns
                .map_or((f64::NAN, f64::NAN), |(o, a)| (ms(o), ms(a)));
            let at = |ns: Option<u64>| ns.map_or(f64::NAN, ms);
            eprintln!(
                "    {target} participant {i} join: ready {:.1} admitted {:.1} offer {offered:.1} \
                 answer {answered:.1} ICE {:.1} DTLS {:.1} first packet {:.1} ({})",
                ms(m.ready_ns),
                ms(m.admitted_ns),
                at(r.ice_connected_ns),
                at(r.connected_ns),
                first.map_or(f64::NAN, |s| ms(s.first_arrival_ns)),
                first.map_or("none".to_owned(), |s| s.source.to_string()),
            );
        }
    }
    let got = received(&after).saturating_sub(received(&before));
    let want = expected(&members, &after, scenario.per_session()).saturating_sub(expected(
        &members,
        &before,
        scenario.per_session(),
    ));
    let mut latencies = Vec::new();
    let mut audio_latencies = Vec::new();
    for a in members
        .iter()
        .flat_map(|m| m.peer.arrivals())
        .filter(|a| a.at >= t0 && a.at <= t1)
    {
        let ms = a.arrived_ns.saturating_sub(a.sent_ns) as f64 / 1e6;
        latencies.push(ms);
        if a.source == Source::Microphone {
            audio_latencies.push(ms);
        }
    }
    latencies.sort_by(f64::total_cmp);
    audio_latencies.sort_by(f64::total_cmp);
    let first_packets: Vec<f64> = members
        .iter()
        .zip(&after)
        .filter(|(m, _)| !m.first)
        .filter_map(|(m, r)| {
            r.streams
                .iter()
                .map(|s| s.first_arrival_ns)
                .min()
                .map(|first| first.saturating_sub(m.joined_ns) as f64 / 1e6)
        })
        .collect();
    let sessions_seen: std::collections::BTreeSet<usize> =
        members.iter().map(|m| m.session).collect();
    debug_assert_eq!(sessions_seen.len(), scenario.sessions);
    let participants = members.len();
    let cpu = cpu1 - cpu0;
    let figures = Figures {
        forwarded_pps: got as f64 / window,
        cpu_s_per_mpkt: if got > 0 {
            cpu / (got as f64 / 1e6)
        } else {
            f64::NAN
        },
        cpu_cores: cpu / window,
        bots_cpu_s_per_mpkt: if got > 0 {
            (bots_cpu1 - bots_cpu0) / (got as f64 / 1e6)
        } else {
            f64::NAN
        },
        delivery: if want > 0 {
            got as f64 / want as f64
        } else {
            f64::NAN
        },
        latency_p50_ms: percentile(&latencies, 0.5),
        latency_p99_ms: percentile(&latencies, 0.99),
        audio_latency_p99_ms: percentile(&audio_latencies, 0.99),
        rss_kib_per_participant: (rss_after - rss_before) / participants as f64,
        first_packet_p50_ms: median(&first_packets),
        sfu_read_wait_p50_us: read_wait.0,
        sfu_read_wait_p99_us: read_wait.1,
        sfu_turn_p50_us: turn.0,
        sfu_turn_p99_us: turn.1,
        participants,
    };
    for m in members {
        m.peer.close().await;
    }
    if let Some(url) = &args.janus {
        for room in rooms {
            janus_bot::destroy_room(url, room, Duration::from_secs(5)).await;
        }
    }
    // Let the SFU notice the departures before the next measurement.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(figures)
}

/// Every run's figures, by scenario then target.
#[derive(Debug, Default, Serialize)]
struct Results {
    scenarios: Vec<Scenario>,
    runs: BTreeMap<String, BTreeMap<String, Vec<Figures>>>,
    failures: Vec<String>,
}

/// Runs the benchmark and prints the table.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let scenarios: Vec<Scenario> = args
        .scenarios
        .iter()
        .map(|s| Scenario::parse(s))
        .collect::<anyhow::Result<_>>()?;
    let mut targets = Vec::new();
    let wanted = |t: &str| args.targets.iter().any(|x| x == t);
    if args.accord.is_some() && wanted("accord") {
        targets.push("accord");
    }
    if args.janus.is_some() && wanted("janus") {
        targets.push("janus");
    }
    anyhow::ensure!(!targets.is_empty(), "give --accord and/or --janus");
    let mut api = match &args.accord {
        Some(base) => {
            let outbox = args.accord_outbox.clone().context("--accord-outbox")?;
            let mut api = accord::Accord::connect(base.clone(), outbox).await?;
            let parties = scenarios
                .iter()
                .map(|s| s.per_session() - 1)
                .max()
                .unwrap_or(0);
            eprintln!("Accord: making sure {parties} party accounts exist");
            api.ensure_parties(parties).await?;
            Some(api)
        }
        None => None,
    };
    let ticks = clock_ticks();
    let mut results = Results {
        scenarios: scenarios.clone(),
        ..Results::default()
    };
    for run in 0..args.runs {
        for scenario in &scenarios {
            // Alternate which target goes first.
            let mut order = targets.clone();
            if run % 2 == 1 {
                order.reverse();
            }
            for target in order {
                eprintln!(
                    "run {}/{}: {} ({} participants) on {target}",
                    run + 1,
                    args.runs,
                    scenario.name,
                    scenario.participants()
                );
                let api = if target == "accord" {
                    api.as_mut()
                } else {
                    None
                };
                match measure(&args, scenario, target, api, ticks).await {
                    Ok(f) => {
                        eprintln!("  {target}: {}", serde_json::to_string(&f)?);
                        results
                            .runs
                            .entry(scenario.name.clone())
                            .or_default()
                            .entry(target.to_owned())
                            .or_default()
                            .push(f);
                    }
                    Err(e) => {
                        let line = format!("run {} {} {target}: {e:#}", run + 1, scenario.name);
                        eprintln!("  FAILED {line}");
                        results.failures.push(line);
                    }
                }
            }
        }
    }
    print!("{}", table(&scenarios, &results.runs));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&results)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    anyhow::ensure!(
        results.failures.is_empty(),
        "{} measurement(s) failed:\n{}",
        results.failures.len(),
        results.failures.join("\n")
    );
    for (name, by_target) in &results.runs {
        for (target, runs) in by_target {
            let delivery = median(&runs.iter().map(|f| f.delivery).collect::<Vec<_>>());
            anyhow::ensure!(
                delivery >= args.min_delivery,
                "{name} on {target}: delivery {delivery:.3} is below {}",
                args.min_delivery
            );
        }
    }
    Ok(())
}

type Metric = (&'static str, fn(&Figures) -> f64, usize);

const METRICS: [Metric; 14] = [
    ("forwarded packets/s", |f| f.forwarded_pps, 0),
    ("SFU CPU s per M packets", |f| f.cpu_s_per_mpkt, 2),
    ("SFU CPU (cores)", |f| f.cpu_cores, 2),
    ("bots CPU s per M packets", |f| f.bots_cpu_s_per_mpkt, 2),
    ("delivery ratio", |f| f.delivery, 3),
    ("latency p50 (ms)", |f| f.latency_p50_ms, 2),
    ("latency p99 (ms)", |f| f.latency_p99_ms, 2),
    ("audio latency p99 (ms)", |f| f.audio_latency_p99_ms, 2),
    (
        "RSS per participant (KiB)",
        |f| f.rss_kib_per_participant,
        0,
    ),
    ("first packet p50 (ms)", |f| f.first_packet_p50_ms, 0),
    ("SFU read wait p50 (µs)", |f| f.sfu_read_wait_p50_us, 0),
    ("SFU read wait p99 (µs)", |f| f.sfu_read_wait_p99_us, 0),
    ("SFU turn delay p50 (µs)", |f| f.sfu_turn_p50_us, 0),
    ("SFU turn delay p99 (µs)", |f| f.sfu_turn_p99_us, 0),
];

/// The Markdown table of medians and Accord / Janus ratios.
fn table(
    scenarios: &[Scenario],
    runs: &BTreeMap<String, BTreeMap<String, Vec<Figures>>>,
) -> String {
    let mut out = String::from(
        "\n| scenario | figure | Accord | Janus | Accord / Janus |\n| --- | --- | ---: | ---: | ---: |\n",
    );
    for scenario in scenarios {
        let by_target = runs.get(&scenario.name);
        let med = |target: &str, f: fn(&Figures) -> f64| {
            by_target
                .and_then(|t| t.get(target))
                .map(|runs| median(&runs.iter().map(f).collect::<Vec<_>>()))
                .unwrap_or(f64::NAN)
        };
        let n = by_target
            .map(|t| t.values().map(Vec::len).max().unwrap_or(0))
            .unwrap_or(0);
        for (i, (label, f, digits)) in METRICS.iter().enumerate() {
            let (a, j) = (med("accord", *f), med("janus", *f));
            let cell = |x: f64| {
                if x.is_finite() {
                    format!("{x:.digits$}")
                } else {
                    "–".to_owned()
                }
            };
            let ratio = if a.is_finite() && j.is_finite() && j != 0.0 {
                format!("{:.2}", a / j)
            } else {
                "–".to_owned()
            };
            let name = if i == 0 {
                format!(
                    "{} ({} × {}+{}, {n} runs)",
                    scenario.name, scenario.sessions, scenario.publishers, scenario.subscribers
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "| {name} | {label} | {} | {} | {ratio} |",
                cell(a),
                cell(j)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scenarios() {
        let s = Scenario::parse("meeting").expect("a scenario");
        assert_eq!((s.sessions, s.publishers, s.subscribers), (1, 6, 0));
        let f = Scenario::parse("fanout200").expect("a scenario");
        assert_eq!((f.sessions, f.publishers, f.subscribers), (1, 1, 200));
        assert_eq!(f.participants(), 201);
        let m = Scenario::parse("sessions").expect("a scenario");
        assert_eq!(m.participants(), 160);
        assert!(Scenario::parse("nope").is_err());
    }

    #[test]
    fn medians_and_percentiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[f64::NAN]).is_nan());
        let sorted: Vec<f64> = (0..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 0.5), 50.0);
        assert_eq!(percentile(&sorted, 0.99), 99.0);
    }

    #[test]
    fn histogram_quantiles_count_only_the_window_and_interpolate() {
        let text = |counts: [u64; 4]| {
            format!(
                "# TYPE accord_sfu_datagram_turn_seconds histogram\n\
                 accord_sfu_datagram_turn_seconds_bucket{{le=\"0.00001\"}} {}\n\
                 accord_sfu_datagram_turn_seconds_bucket{{le=\"0.00005\"}} {}\n\
                 accord_sfu_datagram_turn_seconds_bucket{{le=\"0.0001\"}} {}\n\
                 accord_sfu_datagram_turn_seconds_bucket{{le=\"+Inf\"}} {}\n\
                 accord_sfu_datagram_turn_seconds_count {}\n",
                counts[0], counts[1], counts[2], counts[3], counts[3]
            )
        };
        let name = "accord_sfu_datagram_turn_seconds";
        let before = accord::histogram(&text([50, 50, 50, 50]), name).expect("parses");
        assert_eq!(before[0], (0.00001, 50));
        assert!(before[3].0.is_infinite());
        // In the window: 100 observations, 20 up to 10 us, 60 up to 50 us,
        // 18 up to 100 us, 2 beyond.
        let after = accord::histogram(&text([70, 130, 148, 150]), name).expect("parses");
        let us = |q| histogram_quantile(&before, &after, q) * 1e6;
        assert!((us(0.1) - 5.0).abs() < 1e-6, "{}", us(0.1));
        assert!((us(0.5) - 30.0).abs() < 1e-6, "{}", us(0.5));
        assert!(
            (us(0.9) - 50.0 - 50.0 * 10.0 / 18.0).abs() < 1e-6,
            "{}",
            us(0.9)
        );
        assert!(
            (us(0.99) - 100.0).abs() < 1e-6,
            "beyond the last bound: {}",
            us(0.99)
        );
        assert!(
            histogram_quantile(&after, &after, 0.5).is_nan(),
            "nothing new"
        );
        assert!(accord::histogram("accord_sfu_peer_connections 1\n", name).is_err());
    }

    #[test]
    fn reads_its_own_cpu_and_memory() {
        let pid = std::process::id();
        assert!(cpu_seconds(pid, clock_ticks()).expect("stat") >= 0.0);
        assert!(rss_kib(pid).expect("status") > 0.0);
    }

    #[test]
    fn tables_show_ratios() {
        let scenario = Scenario::parse("smoke").expect("a scenario");
        let mut runs = BTreeMap::new();
        let f = |pps| Figures {
            forwarded_pps: pps,
            ..Figures::default()
        };
        runs.insert(
            "smoke".to_owned(),
            BTreeMap::from([
                ("accord".to_owned(), vec![f(100.0), f(300.0), f(200.0)]),
                ("janus".to_owned(), vec![f(100.0)]),
            ]),
        );
        let t = table(&[scenario], &runs);
        assert!(
            t.contains("| forwarded packets/s | 200 | 100 | 2.00 |"),
            "{t}"
        );
    }
}
