//! The client's address: the TCP peer, or — behind load balancers the
//! operator trusts — the nearest address in `X-Forwarded-For` that no
//! trusted proxy added.
//!
//! The chain is read right to left, as each proxy appends the address it
//! received from: while the hop that handed us the request is a trusted
//! proxy, the entry it appended names the hop before it. The first hop
//! that is not trusted is the client. A malformed entry stops the walk at
//! the last trusted hop: nothing further left can be believed. With no
//! trusted proxies (the default), `X-Forwarded-For` is ignored entirely.

use http::HeaderMap;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// The client of a request from `peer` carrying `headers`.
pub fn client_addr(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpNet]) -> SocketAddr {
    if trusted.is_empty() {
        return peer;
    }
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(&canonical(ip)));
    let mut client = peer.ip();
    if !is_trusted(client) {
        return peer;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|value| value.to_str().unwrap_or(",!").split(','))
        .collect();
    for entry in entries.iter().rev() {
        let Some(hop) = parse_hop(entry.trim()) else {
            break;
        };
        client = hop;
        if !is_trusted(hop) {
            break;
        }
    }
    SocketAddr::new(client, if client == peer.ip() { peer.port() } else { 0 })
}

/// An IPv4-mapped IPv6 address is the IPv4 address it maps.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// One `X-Forwarded-For` entry: an address, optionally with a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`).
fn parse_hop(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    entry
        .parse::<SocketAddr>()
        .ok()
        .map(|addr| canonical(addr.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_static(value));
        }
        headers
    }

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 5000)
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn ip(addr: SocketAddr) -> String {
        addr.ip().to_string()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client() {
        let forged = headers(&["203.0.113.9"]);
        assert_eq!(
            client_addr(peer("10.0.0.5"), &forged, &[]),
            peer("10.0.0.5")
        );
    }

    #[test]
    fn an_untrusted_peer_cannot_name_another_client() {
        let trusted = nets(&["10.0.0.0/8"]);
        let forged = headers(&["10.0.0.7"]);
        assert_eq!(
            ip(client_addr(peer("198.51.100.4"), &forged, &trusted)),
            "198.51.100.4"
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let trusted = nets(&["10.0.0.0/8", "2001:db8:ffff::/48"]);
        // The client forged the first entry; the balancer appended the real one.
        let chain = headers(&["6.6.6.6, 198.51.100.4", "10.1.1.1"]);
        assert_eq!(
            ip(client_addr(peer("10.0.0.5"), &chain, &trusted)),
            "198.51.100.4"
        );
        let v6 = headers(&["[2001:db8::7]:4711, 2001:db8:ffff::1"]);
        assert_eq!(
            ip(client_addr(peer("10.0.0.5"), &v6, &trusted)),
            "2001:db8::7"
        );
        let mapped = headers(&["::ffff:198.51.100.4"]);
        assert_eq!(
            ip(client_addr(peer("::ffff:10.0.0.5"), &mapped, &trusted)),
            "198.51.100.4"
        );
    }

    #[test]
    fn garbage_stops_the_walk_at_the_last_trusted_hop() {
        let trusted = nets(&["10.0.0.0/8"]);
        let chain = headers(&["198.51.100.4, not-an-ip, 10.2.2.2"]);
        assert_eq!(
            ip(client_addr(peer("10.0.0.5"), &chain, &trusted)),
            "10.2.2.2"
        );
        let none = HeaderMap::new();
        assert_eq!(
            client_addr(peer("10.0.0.5"), &none, &trusted),
            peer("10.0.0.5")
        );
    }
}
