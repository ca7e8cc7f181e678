//! Which client a request comes from, as the key of the per-client rate limits.
//!
//! Two things make a naive "the IP address" key wrong:
//!
//! - Behind reverse proxies the TCP peer is the proxy, and the client's address
//!   is in `X-Forwarded-For`. But only the entries the trusted proxies appended
//!   (the right-most ones) can be believed: a client writes whatever it likes to
//!   the left of them, and taking the left-most entry would let it pick a fresh
//!   bucket on every request.
//! - One IPv6 subscriber usually holds a whole /64, so keying on the full
//!   address would give one client 2^64 buckets. IPv6 clients are keyed on
//!   their /64.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::ConnectInfo;
use http::{HeaderMap, Request};
use tower_governor::key_extractor::KeyExtractor;
use tower_governor::GovernorError;

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// A [`KeyExtractor`] keying rate limits on the client's address (IPv6: its /64).
///
/// With `trusted_proxy_hops == 0` the client is the TCP peer (the server must be
/// served with `ConnectInfo<SocketAddr>`). With `n > 0` the server sits behind
/// `n` proxies that each append the address they saw to `X-Forwarded-For`, so
/// the client is the `n`-th entry from the right; when the header is missing,
/// too short, or that entry is not an address, the peer is used instead.
#[derive(Debug, Clone)]
pub struct ClientKey {
    trusted_proxy_hops: usize,
}

impl ClientKey {
    /// A key behind `trusted_proxy_hops` proxies (0: clients connect directly).
    pub fn new(trusted_proxy_hops: usize) -> Self {
        ClientKey { trusted_proxy_hops }
    }

    /// The `n`-th entry from the right of the combined `X-Forwarded-For` chain
    /// (several header lines join, in order, into one list).
    fn forwarded(&self, headers: &HeaderMap) -> Option<IpAddr> {
        let n = self.trusted_proxy_hops;
        if n == 0 {
            return None;
        }
        // Split bytes, not text: a client's non-UTF-8 entry on the left must not
        // make the whole chain unreadable.
        let entries: Vec<&[u8]> = headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .flat_map(|value| value.as_bytes().split(|b| *b == b','))
            .collect();
        let entry = entries[entries.len().checked_sub(n)?];
        let entry = std::str::from_utf8(entry).ok()?.trim();
        // Some proxies append `address:port`.
        entry
            .parse::<IpAddr>()
            .ok()
            .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
    }
}

/// The bucket an address falls in: IPv4-mapped IPv6 as the IPv4 address (the
/// same client, whichever socket family it arrived on), other IPv6 as its /64.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (!0u128 << 64))),
        v4 => v4,
    }
}

impl KeyExtractor for ClientKey {
    type Key = IpAddr;

    fn extract<T>(&self, req: &Request<T>) -> Result<IpAddr, GovernorError> {
        // Without the peer address there is nothing trustworthy to fall back on.
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .ok_or(GovernorError::UnableToExtractKey)?
            .0
            .ip();
        Ok(bucket(self.forwarded(req.headers()).unwrap_or(peer)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: &str = "192.0.2.1:443";

    fn key(hops: usize, peer: &str, xff: &[&str]) -> IpAddr {
        let mut req =
            Request::builder().extension(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        for value in xff {
            req = req.header(X_FORWARDED_FOR, *value);
        }
        ClientKey::new(hops)
            .extract(&req.body(()).unwrap())
            .unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn peer_v4_is_the_key() {
        assert_eq!(key(0, PEER, &[]), ip("192.0.2.1"));
    }

    #[test]
    fn without_trusted_hops_the_header_is_ignored() {
        assert_eq!(key(0, PEER, &["203.0.113.9"]), ip("192.0.2.1"));
    }

    #[test]
    fn peer_v6_is_masked_to_its_64() {
        let a = key(0, "[2001:db8:1:2:aaaa::1]:443", &[]);
        let b = key(0, "[2001:db8:1:2:bbbb:cccc:dddd:eeee]:443", &[]);
        let other = key(0, "[2001:db8:1:3::1]:443", &[]);
        assert_eq!(a, ip("2001:db8:1:2::"));
        assert_eq!(a, b);
        assert_ne!(a, other);
    }

    #[test]
    fn mapped_v4_becomes_v4() {
        assert_eq!(key(0, "[::ffff:192.0.2.7]:443", &[]), ip("192.0.2.7"));
        assert_eq!(key(1, PEER, &["::ffff:203.0.113.9"]), ip("203.0.113.9"));
    }

    #[test]
    fn one_hop_takes_the_right_most_entry() {
        assert_eq!(
            key(1, PEER, &["198.51.100.1, 203.0.113.9"]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn two_hops_take_the_second_from_the_right() {
        assert_eq!(
            key(2, PEER, &["198.51.100.1, 203.0.113.9, 10.0.0.2"]),
            ip("203.0.113.9")
        );
        // The chain may arrive as several header lines.
        assert_eq!(
            key(2, PEER, &["198.51.100.1, 203.0.113.9", "10.0.0.2"]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_spoofed_left_most_entry_is_ignored() {
        // The client sent "1.2.3.4"; the one proxy appended what it saw.
        let spoofed = key(1, PEER, &["1.2.3.4, 203.0.113.9"]);
        let honest = key(1, PEER, &["203.0.113.9"]);
        assert_eq!(spoofed, ip("203.0.113.9"));
        assert_eq!(spoofed, honest);
        // Garbage the client put on the left does not matter either.
        assert_eq!(key(1, PEER, &["nonsense,, 203.0.113.9"]), ip("203.0.113.9"));
        let mut req = Request::builder()
            .extension(ConnectInfo(PEER.parse::<SocketAddr>().unwrap()))
            .header(
                X_FORWARDED_FOR,
                http::HeaderValue::from_bytes(b"\xff\xfe, 203.0.113.9").unwrap(),
            );
        req = req.header(X_FORWARDED_FOR, "10.0.0.2");
        let req = req.body(()).unwrap();
        assert_eq!(ClientKey::new(2).extract(&req).unwrap(), ip("203.0.113.9"));
    }

    #[test]
    fn a_forwarded_v6_is_masked_and_a_port_is_dropped() {
        assert_eq!(key(1, PEER, &["2001:db8:5:6:7::8"]), ip("2001:db8:5:6::"));
        assert_eq!(key(1, PEER, &["203.0.113.9:5555"]), ip("203.0.113.9"));
    }

    #[test]
    fn a_short_or_garbled_header_falls_back_to_the_peer() {
        let peer = ip("192.0.2.1");
        assert_eq!(key(1, PEER, &[]), peer);
        assert_eq!(key(2, PEER, &["203.0.113.9"]), peer);
        assert_eq!(key(1, PEER, &["not an address"]), peer);
        assert_eq!(key(1, PEER, &["203.0.113.9, "]), peer);
        assert_eq!(key(1, PEER, &[""]), peer);
    }

    #[test]
    fn whitespace_around_entries_is_ignored() {
        assert_eq!(
            key(2, PEER, &["  198.51.100.1 ,\t203.0.113.9\t,   10.0.0.2  "]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn missing_connect_info_is_an_error() {
        let req = Request::builder()
            .header(X_FORWARDED_FOR, "203.0.113.9")
            .body(())
            .unwrap();
        assert!(matches!(
            ClientKey::new(1).extract(&req),
            Err(GovernorError::UnableToExtractKey)
        ));
    }
}
