#![allow(dead_code)]
//! What the tests that run the `accord` binary share: a free port, a guard
//! that kills a child process when the test ends, and [`Accord`], which
//! starts `accord` on a port of its own and waits until it answers
//! `/healthz`, starting it again on another port when the one it was given
//! was taken before it could bind it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use accord_testkit::TestApp;

/// How many times [`Accord::start`] starts a server that exits before it
/// answers.
pub(crate) const ATTEMPTS: usize = 5;

/// A port nothing listens on at the moment of asking. Another process may
/// take it before the caller binds it; [`Accord::start`] copes with that.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// How [`Running::wait_until_up`] ended.
#[derive(Debug)]
pub(crate) enum Waited {
    /// It answered while running.
    Up,
    /// It exited first, with this status.
    Exited(ExitStatus),
    /// It never answered.
    TimedOut,
}

/// A child process, killed when the test ends, however it ends.
#[derive(Debug)]
pub(crate) struct Running(Child);

impl Running {
    pub(crate) fn spawn(command: &mut Command) -> std::io::Result<Running> {
        command.spawn().map(Running)
    }

    /// Its exit status once it has exited; `None` while it runs.
    pub(crate) fn exited(&mut self) -> std::io::Result<Option<ExitStatus>> {
        self.0.try_wait()
    }

    /// Polls `up` (every `every`, `tries` times at most) until it answers
    /// true while the process still runs. An answer after the process
    /// exited came from whoever took its port, and does not count.
    pub(crate) async fn wait_until_up<F: std::future::Future<Output = bool>>(
        &mut self,
        tries: usize,
        every: Duration,
        mut up: impl FnMut() -> F,
    ) -> std::io::Result<Waited> {
        for _ in 0..tries {
            let answered = up().await;
            if let Some(status) = self.exited()? {
                return Ok(Waited::Exited(status));
            }
            if answered {
                return Ok(Waited::Up);
            }
            tokio::time::sleep(every).await;
        }
        Ok(Waited::TimedOut)
    }

    /// SIGKILL, then waits for it (nothing when it has been waited for).
    pub(crate) fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// Sends it the signal `name` (`STOP`, `CONT`, `TERM`, …).
    pub(crate) fn signal(&self, name: &str) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.0.id().to_string()])
            .stderr(Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "kill -{name} failed");
        Ok(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A process the test paused (SIGSTOP) is let go on first. One
        // already waited for is left alone: its pid may be another's now.
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.signal("CONT");
        }
        self.kill();
    }
}

/// How a test starts `accord`. The process gets `PATH`, the test
/// database's URLs, a log filter and what [`Accord::envs`] adds, nothing
/// else of the test's environment; its stdout is discarded.
pub(crate) struct Accord<'a> {
    app: &'a TestApp,
    dir: &'a Path,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log_filter: String,
    keep_log: bool,
}

impl<'a> Accord<'a> {
    /// `accord serve` on `app`'s database, with its config files in `dir`,
    /// which is also its working directory.
    pub(crate) fn new(app: &'a TestApp, dir: &'a Path) -> Self {
        Accord {
            app,
            dir,
            args: vec!["serve".to_owned()],
            env: Vec::new(),
            log_filter: "warn".to_owned(),
            keep_log: false,
        }
    }

    /// The arguments before `--config <file>` (`serve` unless set).
    pub(crate) fn args(mut self, args: &[&str]) -> Self {
        self.args = args.iter().map(|&a| a.to_owned()).collect();
        self
    }

    /// More environment variables, set after the ones every process gets.
    pub(crate) fn envs(mut self, vars: &[(&str, &str)]) -> Self {
        self.env
            .extend(vars.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())));
        self
    }

    /// `ACCORD__LOG__FILTER` (`warn` unless set).
    pub(crate) fn log_filter(mut self, filter: &str) -> Self {
        self.log_filter = filter.to_owned();
        self
    }

    /// Writes the process's stderr to a file in the directory, read with
    /// [`Server::log`], instead of to the test's own.
    pub(crate) fn keep_log(mut self) -> Self {
        self.keep_log = true;
        self
    }

    /// Starts the process on a free port with `config(port)` as its config
    /// file and waits until it answers `/healthz`.
    ///
    /// A port found free can be taken by another process before the server
    /// binds it (the server then exits with "Address already in use"): the
    /// server is started again on another port, a few times at most. A 200
    /// on a port whose server has already exited came from whoever took the
    /// port and does not count.
    pub(crate) async fn start(&self, config: impl Fn(u16) -> String) -> anyhow::Result<Server> {
        let what = format!("accord {}", self.args.join(" "));
        // A port taken by something that accepts connections and never
        // answers must not hold the wait up: the probe gives up, and the
        // loop sees the server's exit.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let mut last_exit = None;
        for _ in 0..ATTEMPTS {
            let port = free_port();
            let base = format!("http://127.0.0.1:{port}");
            let file = self.dir.join(format!("accord-{port}.toml"));
            std::fs::write(&file, config(port))?;
            let log = self
                .keep_log
                .then(|| self.dir.join(format!("accord-{port}.log")));
            let mut command = Command::new(env!("CARGO_BIN_EXE_accord"));
            command
                .args(&self.args)
                .arg("--config")
                .arg(&file)
                .current_dir(self.dir)
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("ACCORD__DATABASE__URL", &self.app.db.app_url)
                .env("ACCORD__DATABASE__ADMIN_URL", &self.app.db.admin_url)
                .env("ACCORD__LOG__FILTER", &self.log_filter)
                .envs(self.env.iter().map(|(k, v)| (k, v)))
                .stdout(Stdio::null());
            if let Some(log) = &log {
                command.stderr(std::fs::File::create(log)?);
            }
            let mut server = Server {
                process: Running::spawn(&mut command)?,
                port,
                base,
                log,
            };
            let healthz = format!("{}/healthz", server.base);
            let waited = server
                .process
                .wait_until_up(300, Duration::from_millis(100), || async {
                    http.get(&healthz)
                        .send()
                        .await
                        .is_ok_and(|r| r.status() == 200)
                })
                .await?;
            match waited {
                Waited::Up => return Ok(server),
                Waited::Exited(status) => last_exit = Some((status, server.log())),
                Waited::TimedOut => {
                    anyhow::bail!("{what} never answered /healthz{}", shown(&server.log()))
                }
            }
        }
        let (status, log) = last_exit.expect("at least one attempt");
        anyhow::bail!(
            "{what} exited {ATTEMPTS} times before answering /healthz, last with {status}{}",
            shown(&log)
        )
    }
}

/// A log for an error message: nothing when there is none.
fn shown(log: &str) -> String {
    if log.is_empty() {
        String::new()
    } else {
        format!(":\n{log}")
    }
}

/// An `accord` process started by [`Accord::start`], answering on `port`.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) process: Running,
    pub(crate) port: u16,
    /// `http://127.0.0.1:<port>`.
    pub(crate) base: String,
    log: Option<PathBuf>,
}

impl Server {
    /// What the process has written to stderr, when started with
    /// [`Accord::keep_log`]; empty otherwise.
    pub(crate) fn log(&self) -> String {
        self.log
            .as_ref()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default()
    }
}
