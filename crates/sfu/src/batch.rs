//! Batched UDP I/O: many datagrams per system call (`sendmmsg`/`recvmmsg` on
//! Linux, one call per datagram elsewhere). Under fan-out one incoming packet
//! becomes a datagram per receiver, and a system call per datagram was the
//! largest share of the SFU's CPU per forwarded packet (docs/PERFORMANCE.md).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::SystemTime;

use tokio::net::UdpSocket;

/// Datagrams per `sendmmsg`/`recvmmsg` call.
pub const BATCH: usize = 64;

/// Socket buffer size asked for (the kernel caps it at `net.core.[rw]mem_max`).
const SOCKET_BUFFER: usize = 4 << 20;

/// Sends each `(destination, bytes)` without blocking, in as few system calls
/// as possible. A full socket buffer drops the rest, as a congested network
/// would; a datagram the kernel refuses (an unreachable destination) is
/// skipped. Returns how many were handed to the kernel.
pub fn send_batch<'a, I>(socket: &UdpSocket, datagrams: I) -> usize
where
    I: IntoIterator<Item = (SocketAddr, &'a [u8])>,
{
    let datagrams: Vec<(SocketAddr, &[u8])> = datagrams.into_iter().collect();
    let mut sent = 0;
    let mut at = 0;
    while at < datagrams.len() {
        let end = (at + BATCH).min(datagrams.len());
        match send_some(socket, &datagrams[at..end]) {
            Ok(0) => break,
            Ok(n) => {
                sent += n;
                at += n;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => {
                // The error belongs to the first datagram of this call.
                tracing::debug!(error = %e, destination = %datagrams[at].0, "media send");
                at += 1;
            }
        }
    }
    sent
}

#[cfg(target_os = "linux")]
fn send_some(socket: &UdpSocket, datagrams: &[(SocketAddr, &[u8])]) -> io::Result<usize> {
    use nix::sys::socket::{sendmmsg, ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage};
    use std::io::IoSlice;
    use std::os::fd::AsRawFd;

    let slices: Vec<[IoSlice<'_>; 1]> = datagrams.iter().map(|(_, d)| [IoSlice::new(d)]).collect();
    let addrs: Vec<Option<SockaddrStorage>> = datagrams
        .iter()
        .map(|(a, _)| Some(SockaddrStorage::from(*a)))
        .collect();
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(datagrams.len(), None);
    let cmsgs: [ControlMessage<'_>; 0] = [];
    let results = sendmmsg(
        socket.as_raw_fd(),
        &mut headers,
        &slices,
        &addrs,
        cmsgs,
        MsgFlags::MSG_DONTWAIT,
    )
    .map_err(io::Error::from)?;
    Ok(results.count())
}

#[cfg(not(target_os = "linux"))]
fn send_some(socket: &UdpSocket, datagrams: &[(SocketAddr, &[u8])]) -> io::Result<usize> {
    let (destination, data) = datagrams[0];
    socket.try_send_to(data, destination).map(|_| 1)
}

/// Buffers for [`recv_batch`].
#[derive(Debug)]
pub struct RecvBuffers {
    buffers: Vec<Vec<u8>>,
    /// The datagrams read.
    received: Vec<Received>,
}

/// One datagram read into [`RecvBuffers`].
#[derive(Debug)]
struct Received {
    /// Which buffer, and how many bytes of it.
    buffer: usize,
    len: usize,
    from: SocketAddr,
    /// The local address it was sent to, where the system says.
    to: Option<IpAddr>,
    /// When the kernel received it, where the system says.
    at: Option<SystemTime>,
}

impl RecvBuffers {
    /// Room for [`BATCH`] datagrams of up to `max` bytes each.
    pub fn new(max: usize) -> Self {
        RecvBuffers {
            buffers: vec![vec![0; max]; BATCH],
            received: Vec::with_capacity(BATCH),
        }
    }

    /// The datagrams the last [`recv_batch`] read: source, the local IP they
    /// were addressed to (known on Linux once [`enlarge_buffers`] asked for
    /// it; the socket may be bound to all interfaces), when the kernel
    /// received them (likewise; the wall clock), and bytes.
    pub fn datagrams(
        &self,
    ) -> impl Iterator<Item = (SocketAddr, Option<IpAddr>, Option<SystemTime>, &[u8])> + '_ {
        self.received
            .iter()
            .map(|r| (r.from, r.to, r.at, &self.buffers[r.buffer][..r.len]))
    }
}

/// Waits until the socket is readable, then reads every datagram waiting (up
/// to [`BATCH`]) in one system call. Returns how many were read.
pub async fn recv_batch(socket: &UdpSocket, bufs: &mut RecvBuffers) -> io::Result<usize> {
    loop {
        socket.readable().await?;
        match socket.try_io(tokio::io::Interest::READABLE, || recv_some(socket, bufs)) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(target_os = "linux")]
fn recv_some(socket: &UdpSocket, bufs: &mut RecvBuffers) -> io::Result<usize> {
    use nix::sys::socket::{
        recvmmsg, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage,
    };
    use std::io::IoSliceMut;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    bufs.received.clear();
    let fd = socket.as_raw_fd();
    let cmsg = nix::cmsg_space!(
        nix::libc::in_pktinfo,
        nix::libc::in6_pktinfo,
        nix::libc::timespec
    );
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(bufs.buffers.len(), Some(cmsg));
    let mut slices: Vec<[IoSliceMut<'_>; 1]> = bufs
        .buffers
        .iter_mut()
        .map(|b| [IoSliceMut::new(b.as_mut_slice())])
        .collect();
    let results = recvmmsg(
        fd,
        &mut headers,
        slices.iter_mut(),
        MsgFlags::MSG_DONTWAIT,
        None,
    )
    .map_err(io::Error::from)?;
    for (i, r) in results.enumerate() {
        let from = r.address.and_then(|a: SockaddrStorage| {
            if let Some(v4) = a.as_sockaddr_in() {
                Some(SocketAddr::V4((*v4).into()))
            } else {
                a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
            }
        });
        // A datagram without a source cannot be answered; a truncated one is
        // not one the SFU ever expects.
        let mut to = None;
        let mut at = None;
        for c in r.cmsgs().into_iter().flatten() {
            match c {
                ControlMessageOwned::Ipv4PacketInfo(info) => {
                    to = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                        info.ipi_addr.s_addr,
                    ))));
                }
                ControlMessageOwned::Ipv6PacketInfo(info) => {
                    to = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
                }
                ControlMessageOwned::ScmTimestampns(ts) => {
                    at = SystemTime::UNIX_EPOCH.checked_add(Duration::from(ts));
                }
                _ => {}
            }
        }
        if let Some(from) = from {
            if !r.flags.contains(MsgFlags::MSG_TRUNC) {
                bufs.received.push(Received {
                    buffer: i,
                    len: r.bytes,
                    from,
                    to,
                    at,
                });
            }
        }
    }
    Ok(bufs.received.len())
}

#[cfg(not(target_os = "linux"))]
fn recv_some(socket: &UdpSocket, bufs: &mut RecvBuffers) -> io::Result<usize> {
    bufs.received.clear();
    let (n, from) = socket.try_recv_from(&mut bufs.buffers[0])?;
    bufs.received.push(Received {
        buffer: 0,
        len: n,
        from,
        to: None,
        at: None,
    });
    Ok(1)
}

/// Asks for large socket buffers, so a burst (a key frame fanned out to a
/// room) is not dropped by the kernel before the SFU reads or sends it; for
/// each datagram's destination address (the socket may be bound to all
/// interfaces, and ICE must know which local candidate a request came to);
/// and for the time the kernel received it (arrival times feed the
/// congestion feedback sent to publishers, and a batch read at once did not
/// arrive at once).
pub fn enlarge_buffers(socket: &std::net::UdpSocket) {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::socket::{setsockopt, sockopt};
        let pktinfo = match socket.local_addr() {
            Ok(SocketAddr::V4(_)) => setsockopt(socket, sockopt::Ipv4PacketInfo, &true),
            Ok(SocketAddr::V6(_)) => setsockopt(socket, sockopt::Ipv6RecvPacketInfo, &true),
            Err(_) => Ok(()),
        };
        for result in [
            pktinfo,
            setsockopt(socket, sockopt::RcvBuf, &SOCKET_BUFFER),
            setsockopt(socket, sockopt::SndBuf, &SOCKET_BUFFER),
            setsockopt(socket, sockopt::ReceiveTimestampns, &true),
        ] {
            if let Err(e) = result {
                tracing::debug!(error = %e, "media socket option");
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (socket, SOCKET_BUFFER);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_batch_arrives_whole_and_in_order_with_its_sources() {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = b.local_addr().unwrap();
        let payloads: Vec<Vec<u8>> = (0..150u8).map(|i| vec![i; 100 + usize::from(i)]).collect();
        let sent = send_batch(&a, payloads.iter().map(|p| (to, p.as_slice())));
        assert_eq!(sent, payloads.len());
        let mut bufs = RecvBuffers::new(2048);
        let mut got: Vec<Vec<u8>> = Vec::new();
        while got.len() < payloads.len() {
            let n =
                tokio::time::timeout(std::time::Duration::from_secs(5), recv_batch(&b, &mut bufs))
                    .await
                    .expect("datagrams arrive")
                    .unwrap();
            assert!((1..=BATCH).contains(&n));
            for (from, to, at, data) in bufs.datagrams() {
                assert_eq!(from, a.local_addr().unwrap());
                assert_eq!(to, None, "no destination unless asked for");
                assert_eq!(at, None, "no receive time unless asked for");
                got.push(data.to_vec());
            }
        }
        assert_eq!(got, payloads);
    }

    #[tokio::test]
    async fn an_unreachable_destination_does_not_stop_the_rest() {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = b.local_addr().unwrap();
        // An IPv6 destination on an IPv4 socket fails at once (EAFNOSUPPORT/EINVAL).
        let bad: SocketAddr = "[::1]:9".parse().unwrap();
        let data = [1u8, 2, 3];
        let sent = send_batch(
            &a,
            [
                (bad, &data[..]),
                (to, &data[..]),
                (bad, &data[..]),
                (to, &data[..]),
            ],
        );
        assert_eq!(sent, 2);
        let mut bufs = RecvBuffers::new(2048);
        let mut n = 0;
        while n < 2 {
            n += tokio::time::timeout(std::time::Duration::from_secs(5), recv_batch(&b, &mut bufs))
                .await
                .expect("datagrams arrive")
                .unwrap();
        }
        assert_eq!(n, 2);
    }

    #[tokio::test]
    async fn a_socket_bound_to_all_interfaces_learns_each_datagrams_destination() {
        let std = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        std.set_nonblocking(true).unwrap();
        enlarge_buffers(&std);
        let port = std.local_addr().unwrap().port();
        let b = UdpSocket::from_std(std).unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        a.send_to(b"hello", ("127.0.0.2", port)).await.unwrap();
        let mut bufs = RecvBuffers::new(2048);
        tokio::time::timeout(std::time::Duration::from_secs(5), recv_batch(&b, &mut bufs))
            .await
            .expect("the datagram arrives")
            .unwrap();
        let got: Vec<_> = bufs
            .datagrams()
            .map(|(_, to, _, d)| (to, d.to_vec()))
            .collect();
        assert_eq!(
            got,
            vec![(Some("127.0.0.2".parse().unwrap()), b"hello".to_vec())]
        );
    }

    #[tokio::test]
    async fn datagrams_read_together_keep_the_times_the_kernel_received_them() {
        let std = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        std.set_nonblocking(true).unwrap();
        enlarge_buffers(&std);
        let to = std.local_addr().unwrap();
        let b = UdpSocket::from_std(std).unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        // The kernel turns receive timestamps on for the whole host through
        // deferred work, so the first datagrams after the option is set may
        // go unstamped and be given the time they are read instead. Wait
        // until a datagram carries the time it arrived, not the time of the
        // read 20 ms later.
        let mut bufs = RecvBuffers::new(2048);
        let mut stamped = false;
        for _ in 0..100 {
            a.send_to(b"warm-up", to).await.unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
            tokio::time::timeout(std::time::Duration::from_secs(5), recv_batch(&b, &mut bufs))
                .await
                .expect("the warm-up datagram arrives")
                .unwrap();
            let read = SystemTime::now();
            let at = bufs.datagrams().find_map(|(_, _, at, _)| at);
            if at.is_some_and(|at| {
                read.duration_since(at)
                    .is_ok_and(|d| d >= std::time::Duration::from_millis(10))
            }) {
                stamped = true;
                break;
            }
        }
        assert!(
            stamped,
            "the kernel never stamped a datagram when it arrived"
        );
        let start = SystemTime::now();
        a.send_to(b"first", to).await.unwrap();
        std::thread::sleep(std::time::Duration::from_millis(60));
        a.send_to(b"second", to).await.unwrap();
        std::thread::sleep(std::time::Duration::from_millis(60));
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), recv_batch(&b, &mut bufs))
            .await
            .expect("the datagrams arrive")
            .unwrap();
        let read = SystemTime::now();
        assert_eq!(n, 2, "both waited in the socket and were read in one call");
        // Loopback datagrams are stamped when sent and queued per CPU, so a
        // loaded machine may hand them over in either order: pair each time
        // with its payload rather than with its position in the batch.
        let time_of = |payload: &[u8]| -> SystemTime {
            bufs.datagrams()
                .find(|(_, _, _, d)| *d == payload)
                .and_then(|(_, _, at, _)| at)
                .expect("a receive time")
        };
        let times = [time_of(b"first"), time_of(b"second")];
        let gap = times[1]
            .duration_since(times[0])
            .expect("stamped in sending order");
        assert!(gap >= std::time::Duration::from_millis(50), "{gap:?} apart");
        // Each no earlier than its sending and well before the read.
        assert!(times[0] >= start - std::time::Duration::from_millis(1));
        let waited = read.duration_since(times[1]).expect("received before read");
        assert!(waited >= std::time::Duration::from_millis(50), "{waited:?}");
    }
}
