//! Virus scanning with ClamAV's `clamd`, over its `INSTREAM` command: the
//! plaintext is streamed to the daemon in length-prefixed chunks while it is
//! being encrypted, so it never touches disk on Accord's side.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What a scan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing.
    Clean,
    /// A signature matched (its name).
    Infected(String),
}

/// Why a scan could not say.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("virus scanner unavailable: {0}")]
pub struct ScanUnavailable(pub String);

/// A clamd reachable over TCP.
#[derive(Debug, Clone)]
pub struct Clamd {
    addr: String,
    timeout: Duration,
}

/// Largest chunk sent in one `INSTREAM` frame.
const FRAME: usize = 64 * 1024;

impl Clamd {
    /// A scanner at `addr` (`host:port`); each step waits at most `timeout`.
    pub fn new(addr: impl Into<String>, timeout: Duration) -> Self {
        Clamd {
            addr: addr.into(),
            timeout,
        }
    }

    /// Opens a scan.
    pub async fn start(&self) -> Result<ClamdScan, ScanUnavailable> {
        let conn = tokio::time::timeout(self.timeout, TcpStream::connect(&self.addr))
            .await
            .map_err(|_| ScanUnavailable(format!("connecting to {} timed out", self.addr)))?
            .map_err(|e| ScanUnavailable(format!("connecting to {}: {e}", self.addr)))?;
        let mut scan = ClamdScan {
            conn,
            timeout: self.timeout,
        };
        scan.send(b"zINSTREAM\0").await?;
        Ok(scan)
    }

    /// Whether the daemon answers `PING`.
    pub async fn ping(&self) -> Result<(), ScanUnavailable> {
        let mut conn = tokio::time::timeout(self.timeout, TcpStream::connect(&self.addr))
            .await
            .map_err(|_| ScanUnavailable("connect timed out".into()))?
            .map_err(|e| ScanUnavailable(e.to_string()))?;
        conn.write_all(b"zPING\0")
            .await
            .map_err(|e| ScanUnavailable(e.to_string()))?;
        let mut reply = Vec::new();
        tokio::time::timeout(self.timeout, conn.read_to_end(&mut reply))
            .await
            .map_err(|_| ScanUnavailable("no reply".into()))?
            .map_err(|e| ScanUnavailable(e.to_string()))?;
        if reply.starts_with(b"PONG") {
            Ok(())
        } else {
            Err(ScanUnavailable("unexpected reply to PING".into()))
        }
    }
}

/// A scan in progress.
#[derive(Debug)]
pub struct ClamdScan {
    conn: TcpStream,
    timeout: Duration,
}

impl ClamdScan {
    async fn send(&mut self, bytes: &[u8]) -> Result<(), ScanUnavailable> {
        tokio::time::timeout(self.timeout, self.conn.write_all(bytes))
            .await
            .map_err(|_| ScanUnavailable("clamd stopped reading".into()))?
            .map_err(|e| ScanUnavailable(format!("sending to clamd: {e}")))
    }

    /// Sends plaintext.
    pub async fn write(&mut self, mut data: &[u8]) -> Result<(), ScanUnavailable> {
        while !data.is_empty() {
            let n = data.len().min(FRAME);
            let len = u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes();
            self.send(&len).await?;
            self.send(&data[..n]).await?;
            data = &data[n..];
        }
        Ok(())
    }

    /// Ends the stream and reads the verdict.
    pub async fn finish(mut self) -> Result<Verdict, ScanUnavailable> {
        self.send(&[0, 0, 0, 0]).await?;
        let mut reply = Vec::new();
        // Scanning a large file takes a while: allow well beyond one step's timeout.
        tokio::time::timeout(self.timeout * 30, self.conn.read_to_end(&mut reply))
            .await
            .map_err(|_| ScanUnavailable("clamd gave no verdict in time".into()))?
            .map_err(|e| ScanUnavailable(format!("reading clamd's verdict: {e}")))?;
        parse_reply(&reply)
    }
}

fn parse_reply(reply: &[u8]) -> Result<Verdict, ScanUnavailable> {
    let text = String::from_utf8_lossy(reply);
    let text = text.trim_end_matches(['\0', '\n']).trim();
    let body = text.strip_prefix("stream:").map(str::trim);
    match body {
        Some("OK") => Ok(Verdict::Clean),
        Some(found) if found.ends_with(" FOUND") => Ok(Verdict::Infected(
            found.trim_end_matches(" FOUND").trim().to_owned(),
        )),
        _ => Err(ScanUnavailable(format!(
            "clamd answered {:?}",
            text.chars().take(200).collect::<String>()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_parse() {
        assert_eq!(parse_reply(b"stream: OK\0"), Ok(Verdict::Clean));
        assert_eq!(
            parse_reply(b"stream: Eicar-Signature FOUND\0"),
            Ok(Verdict::Infected("Eicar-Signature".into()))
        );
        assert!(parse_reply(b"INSTREAM size limit exceeded. ERROR\0").is_err());
        assert!(parse_reply(b"").is_err());
    }

    #[tokio::test]
    async fn a_closed_port_is_unavailable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let clamd = Clamd::new(addr.to_string(), Duration::from_secs(1));
        assert!(clamd.start().await.is_err());
    }
}
