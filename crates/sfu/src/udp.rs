//! The one UDP port every peer connection shares, and the one TCP port for
//! ICE-TCP (RFC 6544, frames as in RFC 4571) where networks block UDP.
//!
//! One task reads the UDP socket and hands each datagram to the session that
//! owns it: by source address once known, else by the ICE username of the
//! STUN request that opened it (a hash lookup either way, never a scan).
//! Reads and sends are batched, many datagrams per system call
//! ([`crate::batch`]). Sessions send on the same socket directly. Each TCP connection gets a task
//! that reads frames the same way and a writer that sessions send frames to.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use str0m::net::Protocol;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::batch::{recv_batch, RecvBuffers};
use accord_sfu_core::media::{stun_local_ufrag, MediaConfig};

/// Largest datagram read; WebRTC keeps well under the path MTU.
const MAX_DATAGRAM: usize = 2048;

/// The oldest a kernel receive time is believed: a datagram cannot wait that
/// long in a 4 MiB socket buffer of a live process; an older time means the
/// wall clock stepped.
const MAX_RECEIVE_AGE: Duration = Duration::from_secs(10);

/// How long a TCP connection may take to send its first (STUN) frame.
const TCP_FIRST_FRAME: std::time::Duration = std::time::Duration::from_secs(10);
/// Frames queued for one TCP peer before new ones are dropped.
const TCP_QUEUE: usize = 512;

/// A datagram (or ICE-TCP frame) for a session.
#[derive(Debug)]
pub struct Datagram {
    /// When it arrived at this host (the kernel's receive time where the
    /// system gives it, else when it was read).
    pub at: Instant,
    /// When the SFU read it.
    pub read: Instant,
    /// UDP, or TCP for a frame of an ICE-TCP connection.
    pub proto: Protocol,
    /// From where.
    pub source: SocketAddr,
    /// The local address it arrived at (the bound address where the system
    /// does not say).
    pub destination: SocketAddr,
    /// The bytes.
    pub data: Vec<u8>,
}

/// Who owns which ICE username fragment and source address.
#[derive(Debug, Default)]
pub struct Demux {
    ufrags: RwLock<HashMap<String, Uuid>>,
    addrs: RwLock<HashMap<SocketAddr, Uuid>>,
    sessions: RwLock<HashMap<Uuid, mpsc::Sender<Datagram>>>,
    tcp: RwLock<HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>>,
}

impl Demux {
    /// A session's inbox for datagrams.
    pub fn attach(&self, session: Uuid, inbox: mpsc::Sender<Datagram>) {
        write(&self.sessions).insert(session, inbox);
    }

    /// A session ended: its datagrams have nowhere to go.
    pub fn detach(&self, session: Uuid) {
        write(&self.sessions).remove(&session);
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

    /// Sends a frame on the ICE-TCP connection from `peer`, if it is open;
    /// a full queue drops it, as a congested network would.
    pub fn send_tcp(&self, peer: SocketAddr, frame: &[u8]) {
        if let Some(tx) = read(&self.tcp).get(&peer) {
            let _ = tx.try_send(frame.to_vec());
        }
    }

    fn deliver(&self, session: Uuid, datagram: Datagram) {
        let inbox = read(&self.sessions).get(&session).cloned();
        if let Some(inbox) = inbox {
            let _ = inbox.try_send(datagram);
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
    /// The ICE-TCP listener's address, if one is bound.
    pub tcp_local: Option<SocketAddr>,
    tcp: Option<Arc<std::sync::Mutex<Option<std::net::TcpListener>>>>,
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
        crate::batch::enlarge_buffers(&std);
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
            tcp_local: None,
            tcp: None,
            config: Arc::new(MediaConfig {
                udp_candidates,
                tcp_candidates: Vec::new(),
                turn: None,
                bandwidth_estimation: true,
            }),
        })
    }

    /// Also accepts ICE-TCP on `bind` (passive candidates at the same IPs as
    /// the UDP ones), for networks that block UDP.
    pub fn with_tcp(mut self, bind: SocketAddr) -> io::Result<Self> {
        let listener = std::net::TcpListener::bind(bind)?;
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        let mut config = (*self.config).clone();
        config.tcp_candidates = config
            .udp_candidates
            .iter()
            .map(|a| SocketAddr::new(a.ip(), local.port()))
            .collect();
        self.config = Arc::new(config);
        self.tcp_local = Some(local);
        self.tcp = Some(Arc::new(std::sync::Mutex::new(Some(listener))));
        Ok(self)
    }

    /// Turns per-receiver bandwidth estimation on or off (on by default; see
    /// [`MediaConfig::bandwidth_estimation`]).
    pub fn with_bandwidth_estimation(mut self, on: bool) -> Self {
        let mut config = (*self.config).clone();
        config.bandwidth_estimation = on;
        self.config = Arc::new(config);
        self
    }

    /// Hands clients these TURN relays (with credentials) as ICE servers.
    pub fn with_turn(mut self, turn: accord_sfu_core::turn::TurnConfig) -> Self {
        let mut config = (*self.config).clone();
        config.turn = Some(turn);
        self.config = Arc::new(config);
        self
    }

    /// Reads the socket for ever, handing datagrams to their sessions. A full
    /// session inbox drops the datagram (media is loss-tolerant; blocking
    /// would stall every other session).
    pub async fn run(self, demux: Arc<Demux>) {
        let listener = self
            .tcp
            .as_ref()
            .and_then(|t| t.lock().unwrap_or_else(|p| p.into_inner()).take())
            .and_then(|l| TcpListener::from_std(l).ok());
        if let Some(listener) = listener {
            tokio::spawn(accept_tcp(listener, demux.clone()));
        }
        let mut bufs = RecvBuffers::new(MAX_DATAGRAM);
        loop {
            if let Err(e) = recv_batch(&self.socket, &mut bufs).await {
                // ICMP errors surface here on some systems; they concern one peer.
                tracing::debug!(error = %e, "media socket read");
                continue;
            }
            let (now, wall) = (Instant::now(), SystemTime::now());
            for (source, to, received, data) in bufs.datagrams() {
                let Some(session) = demux.route(source, data) else {
                    continue;
                };
                demux.deliver(
                    session,
                    Datagram {
                        at: arrival(now, wall, received),
                        read: now,
                        proto: Protocol::Udp,
                        source,
                        destination: SocketAddr::new(
                            to.unwrap_or(self.local.ip()),
                            self.local.port(),
                        ),
                        data: data.to_vec(),
                    },
                );
            }
        }
    }
}

/// When a datagram the kernel received at `received` (the wall clock)
/// arrived, on the monotonic clock that read `now` when the wall clock read
/// `wall`. Without a receive time, or with one that a step of the wall clock
/// put in the future or more than [`MAX_RECEIVE_AGE`] back, `now`.
fn arrival(now: Instant, wall: SystemTime, received: Option<SystemTime>) -> Instant {
    received
        .and_then(|t| wall.duration_since(t).ok())
        .filter(|age| *age <= MAX_RECEIVE_AGE)
        .and_then(|age| now.checked_sub(age))
        .unwrap_or(now)
}

async fn accept_tcp(listener: TcpListener, demux: Arc<Demux>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(tcp_connection(stream, peer, demux.clone()));
            }
            Err(e) => {
                tracing::debug!(error = %e, "ICE-TCP accept");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// Reads one RFC 4571 frame: a 16-bit length, then that many bytes.
async fn read_frame(
    stream: &mut tokio::net::tcp::OwnedReadHalf,
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    let len = stream.read_u16().await? as usize;
    if len == 0 || len > MAX_DATAGRAM {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame length out of range",
        ));
    }
    buf.resize(len, 0);
    stream.read_exact(buf).await?;
    Ok(())
}

/// One ICE-TCP connection: the first frame must be a STUN request naming a
/// peer connection of ours; then frames go to its session, and the session's
/// frames to the peer come back through a writer task.
async fn tcp_connection(stream: TcpStream, peer: SocketAddr, demux: Arc<Demux>) {
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let (mut reader, mut writer) = stream.into_split();
    let mut buf = Vec::with_capacity(MAX_DATAGRAM);
    let first = tokio::time::timeout(TCP_FIRST_FRAME, read_frame(&mut reader, &mut buf)).await;
    if !matches!(first, Ok(Ok(()))) {
        return;
    }
    let Some(session) = demux.route(peer, &buf) else {
        return;
    };
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(TCP_QUEUE);
    write(&demux.tcp).insert(peer, tx);
    let writing = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            let Ok(len) = u16::try_from(frame.len()) else {
                continue;
            };
            let mut out = Vec::with_capacity(frame.len() + 2);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&frame);
            if writer.write_all(&out).await.is_err() {
                break;
            }
        }
    });
    loop {
        let now = Instant::now();
        demux.deliver(
            session,
            Datagram {
                at: now,
                read: now,
                proto: Protocol::Tcp,
                source: peer,
                destination: local,
                data: buf.clone(),
            },
        );
        if read_frame(&mut reader, &mut buf).await.is_err() {
            break;
        }
    }
    write(&demux.tcp).remove(&peer);
    write(&demux.addrs).remove(&peer);
    writing.abort();
}

/// The address this host would use to reach the outside (no packet is sent).
fn primary_ip() -> Option<IpAddr> {
    let probe = StdUdpSocket::bind("0.0.0.0:0").ok()?;
    probe.connect("192.0.2.1:9").ok()?;
    let ip = probe.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn a_kernel_receive_time_becomes_an_arrival_on_the_monotonic_clock() {
        let now = Instant::now();
        let wall = SystemTime::now();
        let ms = Duration::from_millis;
        assert_eq!(arrival(now, wall, Some(wall - ms(3))), now - ms(3));
        assert_eq!(arrival(now, wall, Some(wall)), now);
        // No time, or one a wall clock step made nonsense: read time.
        assert_eq!(arrival(now, wall, None), now);
        assert_eq!(arrival(now, wall, Some(wall + ms(5))), now);
        assert_eq!(arrival(now, wall, Some(wall - ms(1500))), now - ms(1500));
        assert_eq!(arrival(now, wall, Some(wall - ms(10_500))), now);
    }

    /// A STUN binding request with a USERNAME, a PRIORITY and a (dummy) MESSAGE-INTEGRITY:
    /// routing reads the username only; str0m checks the integrity later.
    fn binding_request(username: &str) -> Vec<u8> {
        let mut attr = Vec::new();
        attr.extend_from_slice(&0x0006u16.to_be_bytes());
        attr.extend_from_slice(&(username.len() as u16).to_be_bytes());
        attr.extend_from_slice(username.as_bytes());
        while attr.len() % 4 != 0 {
            attr.push(0);
        }
        attr.extend_from_slice(&0x0024u16.to_be_bytes()); // PRIORITY
        attr.extend_from_slice(&4u16.to_be_bytes());
        attr.extend_from_slice(&1u32.to_be_bytes());
        attr.extend_from_slice(&0x0008u16.to_be_bytes());
        attr.extend_from_slice(&20u16.to_be_bytes());
        attr.extend_from_slice(&[0u8; 20]);
        let mut m = Vec::new();
        m.extend_from_slice(&0x0001u16.to_be_bytes());
        m.extend_from_slice(&(attr.len() as u16).to_be_bytes());
        m.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
        m.extend_from_slice(&[7u8; 12]);
        m.extend_from_slice(&attr);
        m
    }

    fn framed(data: &[u8]) -> Vec<u8> {
        let mut out = (data.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(data);
        out
    }

    #[tokio::test]
    async fn ice_tcp_frames_reach_the_session_named_by_the_stun_username_and_back() {
        let socket = MediaSocket::bind("127.0.0.1:0".parse().unwrap(), &[])
            .unwrap()
            .with_tcp("127.0.0.1:0".parse().unwrap())
            .unwrap();
        let tcp = socket.tcp_local.unwrap();
        assert_eq!(socket.config.tcp_candidates, vec![tcp]);
        let demux = Arc::new(Demux::default());
        let (session, other) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let (tx, mut inbox) = mpsc::channel(16);
        demux.attach(session, tx);
        let (tx2, mut other_inbox) = mpsc::channel(16);
        demux.attach(other, tx2);
        demux.add_ufrag("ours", session);
        tokio::spawn(socket.clone().run(demux.clone()));

        // A stranger whose first frame is not STUN for us is dropped.
        let mut stranger = TcpStream::connect(tcp).await.unwrap();
        stranger
            .write_all(&framed(b"not stun at all"))
            .await
            .unwrap();
        let mut byte = [0u8; 1];
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), stranger.read(&mut byte))
            .await
            .unwrap()
            .unwrap_or(0);
        assert_eq!(n, 0, "the connection should be closed");

        let mut client = TcpStream::connect(tcp).await.unwrap();
        let me = client.local_addr().unwrap();
        let stun = binding_request("ours:theirs");
        // Two frames in one write, split across the length prefix on purpose.
        let mut bytes = framed(&stun);
        bytes.extend_from_slice(&framed(b"\x80\x60second"));
        client.write_all(&bytes[..1]).await.unwrap();
        client.write_all(&bytes[1..]).await.unwrap();
        let wait = std::time::Duration::from_secs(5);
        let first = tokio::time::timeout(wait, inbox.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (first.proto, first.source, first.data),
            (Protocol::Tcp, me, stun)
        );
        let second = tokio::time::timeout(wait, inbox.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(second.data, b"\x80\x60second");
        assert!(other_inbox.try_recv().is_err());

        // The session's frames come back framed.
        demux.send_tcp(me, b"reply");
        let mut back = [0u8; 7];
        client.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"\x00\x05reply");

        // An impossible length ends the connection.
        client.write_all(&[0xff, 0xff]).await.unwrap();
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), client.read(&mut byte))
            .await
            .unwrap()
            .unwrap_or(0);
        assert_eq!(n, 0);
    }
}
