//! Resident memory comes back after load: a burst of sign-ins (argon2id, 19 MiB
//! of work memory each) and a burst of malformed GraphQL, three times over,
//! must not leave the process bigger after each round.
//!
//! The measurement needs a process of its own (the other tests of this binary
//! run on threads beside it and would move its RSS), so the test runs the
//! ignored `bursts_in_a_process_of_their_own` in a child copy of this binary.

use std::time::Duration;

use accord_domain::Role;
use accord_testkit::{spawn_app, Client, TestApp};
use rand::{Rng, SeedableRng};
use serde_json::json;

const CHILD_ENV: &str = "ACCORD_MEMORY_TEST_CHILD";

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

#[test]
fn resident_memory_does_not_climb_over_three_bursts() -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let output = std::process::Command::new(exe)
        .args([
            "memory::bursts_in_a_process_of_their_own",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stderr}");
    anyhow::ensure!(
        output.status.success() && stdout.contains("1 passed"),
        "the measuring process failed:\n{stdout}\n{stderr}"
    );
    Ok(())
}

/// 200 sign-ins, a quarter with a wrong password, 32 at a time.
async fn sign_in_burst(app: &TestApp) -> anyhow::Result<()> {
    let client = app.client();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let client = Client {
            http: client.http.clone(),
            base_url: client.base_url.clone(),
            csrf: None,
        };
        tasks.spawn(async move {
            // Sign-ins to one address queue behind each other (its
            // throttle row); to unknown addresses they run side by side,
            // each still paying for a full argon2id verification.
            let (email, password) = if i % 4 == 0 {
                ("mem@m.test".to_owned(), accord_testkit::PASSWORD)
            } else {
                (format!("nobody-{i}@m.test"), "a wrong password here")
            };
            let (status, body) = client
                .post_json(
                    "/auth/sign-in",
                    &json!({ "email": email, "password": password }),
                )
                .await?;
            anyhow::ensure!(
                status == 200 || status == 401,
                "sign-in answered {status}: {body}"
            );
            anyhow::Ok(())
        });
        if tasks.len() >= 32 {
            if let Some(done) = tasks.join_next().await {
                done??;
            }
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// 600 malformed or hostile GraphQL requests from a signed-in client.
async fn fuzz_burst(client: &Client, seed: u64) -> anyhow::Result<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let pieces = [
        "{",
        "}",
        "cases",
        "case(id: \"x\")",
        "edges",
        "node",
        "title",
        "...",
        "fragment f on Case",
        "mutation",
        "createCase(input: {",
        "reference: \"",
        "\"",
        "(",
        ")",
        "$v",
        "@include(if: true)",
        "__schema",
        "__typename",
        "query q",
        ":",
        ",",
        "first: 1000000",
        "[",
        "]",
    ];
    let mut bodies = Vec::new();
    for _ in 0..600 {
        let body = match rng.gen_range(0..4) {
            0 => {
                let n = rng.gen_range(1..60);
                let query: Vec<&str> = (0..n)
                    .map(|_| pieces[rng.gen_range(0..pieces.len())])
                    .collect();
                json!({ "query": query.join(" ") }).to_string()
            }
            1 => {
                let depth = rng.gen_range(10..200);
                let query = format!(
                    "{}{}",
                    "{ cases { edges { node { ".repeat(depth),
                    "}".repeat(depth * 4)
                );
                json!({ "query": query }).to_string()
            }
            2 => {
                let len = rng.gen_range(1..60_000);
                json!({ "query": "mutation($r: String!) { createCase(input: {reference: $r, title: $r}) { id } }", "variables": { "r": "x".repeat(len) } }).to_string()
            }
            _ => {
                let len = rng.gen_range(1..4000);
                (0..len).map(|_| rng.gen_range(32u8..127) as char).collect()
            }
        };
        bodies.push(body);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for body in bodies {
        let request = client
            .http
            .post(format!("{}/graphql", client.base_url))
            .header("content-type", "application/json")
            .header("x-csrf-token", client.csrf.clone().unwrap_or_default())
            .body(body);
        tasks.spawn(async move {
            let response = request.send().await?;
            let status = response.status().as_u16();
            anyhow::ensure!(status < 500, "a fuzzed request answered {status}");
            anyhow::Ok(())
        });
        if tasks.len() >= 32 {
            if let Some(done) = tasks.join_next().await {
                done??;
            }
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by resident_memory_does_not_climb_over_three_bursts in a process of its own"]
async fn bursts_in_a_process_of_their_own() -> anyhow::Result<()> {
    anyhow::ensure!(
        std::env::var_os(CHILD_ENV).is_some(),
        "run through resident_memory_does_not_climb_over_three_bursts"
    );
    let app = spawn_app().await?;
    let org = app.org("memory").await?;
    app.member(org, "mem@m.test", Role::OrgAdmin).await?;
    let client = app.sign_in("mem@m.test", None).await?;
    client
        .ok("{ cases { edges { node { id } } } }", json!({}))
        .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_mib();
    let mut after = Vec::new();
    for round in 0..3u64 {
        sign_in_burst(&app).await?;
        fuzz_burst(&client, round).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        after.push(rss_mib());
    }
    eprintln!("RSS (MiB): before {before:.1}, after each round {after:.1?}");
    // Argon2's work memory is pooled, one 19 MiB buffer per CPU; the rest of
    // a round's garbage must be given back or reused.
    let cpus = std::thread::available_parallelism().map_or(2, usize::from) as f64;
    let allowed_first = cpus * 19.0 + 48.0;
    anyhow::ensure!(
        after[0] - before <= allowed_first,
        "the first round grew RSS by {:.1} MiB (allowed {allowed_first:.0})",
        after[0] - before
    );
    anyhow::ensure!(
        after[2] - after[0] <= 16.0,
        "RSS kept climbing: {after:.1?} MiB after each round (from {before:.1})"
    );
    Ok(())
}
