//! `accord-loadgen`: headless WebRTC bots for Accord.
//!
//! ```sh
//! accord-loadgen device-key --out bot.pem          # prints the public JWK
//! # ask the API for a join token bound to that JWK (joinToken(sessionId, deviceKey))
//! accord-loadgen join --ws ws://127.0.0.1:8080 --session <uuid> \
//!     --key bot.pem --token-file token.txt --seconds 20 > report.json
//! scripts/bench                                     # Accord vs Janus (runs `bench`)
//! scripts/netem-test                                # audio over a shaped link (runs `shaping`)
//! ```

use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use accord_loadgen::shaping::TileSize;
use accord_loadgen::{device, Bot, BotConfig, Source};
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(
    name = "accord-loadgen",
    version,
    about = "Headless WebRTC bots for Accord"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Makes a device key (PKCS#8 PEM) and prints its public JWK, to ask for a join token with.
    DeviceKey {
        /// Where to write the private key.
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Prints the public JWK of a device key.
    Jwk {
        /// The private key (PKCS#8 PEM).
        #[arg(long, env = "ACCORD_DEVICE_KEY_FILE")]
        key: PathBuf,
    },
    /// Joins a session with one bot, publishes for a while, prints its report as JSON.
    Join(JoinArgs),
    /// Runs the same bots against Accord's SFU and Janus's videoroom and
    /// prints a table of Accord / Janus ratios (see scripts/bench).
    Bench(accord_loadgen::bench::BenchArgs),
    /// A mediator publishing audio and a simulcast camera, a party receiving
    /// it over a link shaped for a while with tc netem: checks that audio
    /// keeps arriving while video drops to the lowest layer, and that video
    /// climbs back afterwards (see scripts/netem-test; needs root).
    Shaping(accord_loadgen::shaping::ShapingArgs),
}

#[derive(Debug, clap::Args)]
struct JoinArgs {
    /// The app's address, e.g. ws://127.0.0.1:8080 (http:// works too).
    #[arg(long)]
    ws: url::Url,
    /// The live session's id.
    #[arg(long)]
    session: Uuid,
    /// The join token (better: --token-file or ACCORD_JOIN_TOKEN).
    #[arg(long, env = "ACCORD_JOIN_TOKEN", conflicts_with = "token_file")]
    token: Option<String>,
    /// A file holding the join token.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// The device key the token is bound to (PKCS#8 PEM).
    #[arg(long, env = "ACCORD_DEVICE_KEY_FILE")]
    key: PathBuf,
    /// How long to stay once connected, seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Camera bit rate, kbit/s.
    #[arg(long, default_value_t = 1200)]
    video_kbps: u32,
    /// Video frames per second.
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Publish no audio.
    #[arg(long)]
    no_audio: bool,
    /// Publish no camera video.
    #[arg(long)]
    no_video: bool,
    /// Publish screen video too.
    #[arg(long)]
    screen: bool,
    /// Publish the camera as three simulcast layers (q, h, f).
    #[arg(long)]
    simulcast: bool,
    /// The simulcast layers' rates, kbit/s, lowest first.
    #[arg(long, value_delimiter = ',', num_args = 3, default_values_t = [150, 500, 1200])]
    simulcast_kbps: Vec<u32>,
    /// After joining, tell the server the size at which this bot shows
    /// someone's camera: PARTICIPANT:WIDTHxHEIGHT (repeatable).
    #[arg(long)]
    tile: Vec<String>,
    /// Local address for media (default: loopback for a loopback server, else all interfaces).
    #[arg(long)]
    bind: Option<IpAddr>,
    /// How long each joining step may take, seconds.
    #[arg(long, default_value_t = 10)]
    step_timeout: u64,
    /// Print every server message to stderr as it arrives.
    #[arg(long)]
    print_messages: bool,
}

/// PARTICIPANT:WIDTHxHEIGHT.
fn parse_tile(text: &str) -> anyhow::Result<(Uuid, TileSize)> {
    let (participant, size) = text
        .split_once(':')
        .with_context(|| format!("--tile {text}: expected PARTICIPANT:WIDTHxHEIGHT"))?;
    let size = size
        .parse::<TileSize>()
        .map_err(|e| anyhow::anyhow!("--tile {text}: {e}"))?;
    Ok((Uuid::parse_str(participant)?, size))
}

fn read_key(path: &PathBuf) -> anyhow::Result<p256::ecdsa::SigningKey> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("reading the device key {}", path.display()))?;
    Ok(device::from_pem(&pem)?)
}

/// Writes a private key readable by its owner only.
fn write_private(path: &PathBuf, contents: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

async fn join(args: JoinArgs) -> anyhow::Result<()> {
    let token = match (&args.token, &args.token_file) {
        (Some(token), _) => token.trim().to_owned(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the token file {}", path.display()))?
            .trim()
            .to_owned(),
        (None, None) => anyhow::bail!("give --token, --token-file or ACCORD_JOIN_TOKEN"),
    };
    let key = read_key(&args.key)?;
    let mut config = BotConfig::new(args.ws, args.session);
    config.publish_audio = !args.no_audio;
    config.publish_video = !args.no_video;
    config.publish_screen = args.screen;
    config.simulcast = args.simulcast;
    if let [q, h, f] = args.simulcast_kbps[..] {
        config.simulcast_kbps = [q, h, f];
    } else {
        anyhow::bail!("--simulcast-kbps takes three rates");
    }
    config.video_kbps = args.video_kbps;
    config.video_fps = args.fps;
    config.bind_ip = args.bind;
    config.step_timeout = Duration::from_secs(args.step_timeout);

    let tiles = args
        .tile
        .iter()
        .map(|t| parse_tile(t))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let bot = Bot::join(config, token, key).await?;
    eprintln!("joined as {}", bot.participant());
    for (participant, size) in tiles {
        bot.tile(participant, Source::Camera, size.width, size.height)
            .await?;
    }
    let printer = args.print_messages.then(|| {
        let mut messages = bot.messages();
        tokio::spawn(async move {
            while let Some(m) = messages.next().await {
                eprintln!("{m}");
            }
        })
    });
    bot.connected(Duration::from_secs(args.step_timeout))
        .await
        .context("connecting media")?;
    eprintln!("media connected; staying {} s", args.seconds);
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs(args.seconds)) => {}
        _ = tokio::signal::ctrl_c() => eprintln!("interrupted"),
    }
    let report = bot.report();
    if let Some((code, reason)) = bot.closed_with() {
        eprintln!("the server closed the connection: {code} {reason}");
    }
    bot.close().await;
    if let Some(printer) = printer {
        printer.abort();
    }
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &report)?;
    writeln!(out)?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::DeviceKey { out, force } => {
            anyhow::ensure!(
                force || !out.exists(),
                "{} exists (use --force to replace it)",
                out.display()
            );
            let key = device::generate();
            write_private(&out, &device::to_pem(&key)?)
                .with_context(|| format!("writing {}", out.display()))?;
            println!("{}", device::jwk(key.verifying_key()));
        }
        Command::Jwk { key } => {
            println!("{}", device::jwk(read_key(&key)?.verifying_key()));
        }
        Command::Join(args) => join(args).await?,
        Command::Bench(args) => accord_loadgen::bench::run(args).await?,
        Command::Shaping(args) => accord_loadgen::shaping::run(args).await?,
    }
    Ok(())
}
