//! The one UDP port every peer connection shares.
//!
//! One task reads the socket and hands each datagram to the session that owns
//! it: by source address once known, else by the ICE username of the STUN
//! request that opened it (a hash lookup either way, never a scan). Sessions
//! send on the same socket directly.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::media::{stun_local_ufrag, MediaConfig};

/// Largest datagram read; WebRTC keeps well under the path MTU.
const MAX_DATAGRAM: usize = 2048;

/// A datagram for a session.
#[derive(Debug)]
pub struct Datagram {
    /// When it was read.
    pub at: Instant,
    /// From where.
    pub source: SocketAddr,
    /// The bytes.
    pub data: Vec<u8>,
}

/// Who owns which ICE username fragment and source address.
#[derive(Debug, Default)]
pub struct Demux {
    ufrags: RwLock<HashMap<String, Uuid>>,
    addrs: RwLock<HashMap<SocketAddr, Uuid>>,
    sessions: RwLock<HashMap<Uuid, mpsc::Sender<Datagram>>>,
}

impl Demux {
    /// A session's inbox for datagrams.
    pub fn attach(&self, session: Uuid, inbox: mpsc::Sender<Datagram>) {
        write(&self.sessions).insert(session, inbox);
    }

    /// A peer connection of `session` listens on `ufrag`.
    pub fn add_ufrag(&self, ufrag: &str, session: Uuid) {
        write(&self.ufrags).insert(ufrag.to_owned(), session);
    }

    /// A peer connection ended: forget its username and addresses.
    pub fn remove(&self, ufrag: &str, addrs: &[SocketAddr]) {
        write(&self.ufrags).remove(ufrag);
        let mut map = write(&self.addrs);
        for a in addrs {
            map.remove(a);
        }
    }

    fn route(&self, source: SocketAddr, data: &[u8]) -> Option<Uuid> {
        if let Some(s) = read(&self.addrs).get(&source) {
            return Some(*s);
        }
        let ufrag = stun_local_ufrag(data)?;
        let session = *read(&self.ufrags).get(ufrag)?;
        write(&self.addrs).insert(source, session);
        Some(session)
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

/// The bound media port and what clients are told about it.
#[derive(Debug, Clone)]
pub struct MediaSocket {
    /// The socket.
    pub socket: Arc<UdpSocket>,
    /// Where it is bound.
    pub local: SocketAddr,
    /// The candidates announced to clients.
    pub config: Arc<MediaConfig>,
}

impl MediaSocket {
    /// Binds `bind` and announces it at `public_ips` (1:1 NAT), or, when none
    /// are given, at the bound address, or at this host's primary address and
    /// loopback when bound to all interfaces.
    pub fn bind(bind: SocketAddr, public_ips: &[IpAddr]) -> io::Result<Self> {
        let std = StdUdpSocket::bind(bind)?;
        std.set_nonblocking(true)?;
        let local = std.local_addr()?;
        let socket = Arc::new(UdpSocket::from_std(std)?);
        let ips: Vec<IpAddr> = if !public_ips.is_empty() {
            public_ips.to_vec()
        } else if !local.ip().is_unspecified() {
            vec![local.ip()]
        } else {
            let mut ips = Vec::new();
            if let Some(ip) = primary_ip() {
                ips.push(ip);
            }
            ips.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
            ips
        };
        let udp_candidates = ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, local.port()))
            .collect();
        Ok(MediaSocket {
            socket,
            local,
            config: Arc::new(MediaConfig {
                udp_candidates,
                tcp_candidates: Vec::new(),
                turn: None,
            }),
        })
    }

    /// Hands clients these TURN relays (with credentials) as ICE servers.
    pub fn with_turn(mut self, turn: crate::turn::TurnConfig) -> Self {
        let mut config = (*self.config).clone();
        config.turn = Some(turn);
        self.config = Arc::new(config);
        self
    }

    /// Reads the socket for ever, handing datagrams to their sessions. A full
    /// session inbox drops the datagram (media is loss-tolerant; blocking
    /// would stall every other session).
    pub async fn run(self, demux: Arc<Demux>) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let (n, source) = match self.socket.recv_from(&mut buf).await {
                Ok(r) => r,
                Err(e) => {
                    // ICMP errors surface here on some systems; they concern one peer.
                    tracing::debug!(error = %e, "media socket read");
                    continue;
                }
            };
            let data = &buf[..n];
            let Some(session) = demux.route(source, data) else {
                continue;
            };
            let inbox = read(&demux.sessions).get(&session).cloned();
            if let Some(inbox) = inbox {
                let _ = inbox.try_send(Datagram {
                    at: Instant::now(),
                    source,
                    data: data.to_vec(),
                });
            }
        }
    }
}

/// The address this host would use to reach the outside (no packet is sent).
fn primary_ip() -> Option<IpAddr> {
    let probe = StdUdpSocket::bind("0.0.0.0:0").ok()?;
    probe.connect("192.0.2.1:9").ok()?;
    let ip = probe.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}
