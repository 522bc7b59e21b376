//! The egress policy: which IP addresses a connector may connect to.
//!
//! The host resolves a data source's host name itself (name lookup is off in
//! the guest), keeps the addresses this policy allows, and grants exactly those
//! `ip:port` pairs. Link-local and cloud metadata addresses are always refused,
//! whatever the configuration, because they hand out cloud credentials.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use thiserror::Error;

/// Which address ranges beyond the public internet a deployment allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EgressPolicy {
    /// 127.0.0.0/8 and ::1: only for development and tests.
    pub allow_loopback: bool,
    /// RFC 1918, CGNAT 100.64/10, IPv6 unique-local fc00::/7: where most
    /// databases live.
    pub allow_private: bool,
}

impl Default for EgressPolicy {
    /// Private networks yes (databases live there), loopback no (the host's
    /// own services live there).
    fn default() -> Self {
        Self { allow_loopback: false, allow_private: true }
    }
}

/// Why an address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Denial {
    #[error("cloud metadata addresses are never allowed")]
    Metadata,
    #[error("link-local addresses are never allowed")]
    LinkLocal,
    #[error("unspecified, broadcast, multicast and reserved addresses are never allowed")]
    NotUnicast,
    #[error("loopback addresses are not allowed by the egress policy")]
    Loopback,
    #[error("private network addresses are not allowed by the egress policy")]
    Private,
}

#[derive(Debug, Error)]
pub enum EgressError {
    #[error("cannot resolve `{host}`: {reason}")]
    Resolve { host: String, reason: String },
    #[error("resolving `{host}` took longer than {timeout_ms} ms")]
    ResolveTimeout { host: String, timeout_ms: u128 },
    #[error("`{host}` resolves to {ip}, refused: {denial}")]
    Denied { host: String, ip: IpAddr, denial: Denial },
}

impl EgressPolicy {
    /// Decides one address. An IPv6 address that carries an IPv4 address
    /// (see [`embedded_v4`]) is decided as that IPv4 address.
    pub fn check(&self, ip: IpAddr) -> Result<(), Denial> {
        let ip = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match ip {
            IpAddr::V4(v4) => self.check_v4(v4),
            IpAddr::V6(v6) => self.check_v6(v6),
        }
    }

    fn check_v4(&self, ip: Ipv4Addr) -> Result<(), Denial> {
        let [a, b, ..] = ip.octets();
        // AWS/GCP/Azure 169.254.169.254 is link-local too; Alibaba uses 100.100.100.200.
        if ip == Ipv4Addr::new(100, 100, 100, 200) || ip == Ipv4Addr::new(169, 254, 169, 254) {
            return Err(Denial::Metadata);
        }
        if ip.is_link_local() {
            return Err(Denial::LinkLocal);
        }
        if a == 0 || ip.is_broadcast() || ip.is_multicast() || a >= 240 {
            return Err(Denial::NotUnicast);
        }
        if ip.is_loopback() {
            return self.allow_loopback.then_some(()).ok_or(Denial::Loopback);
        }
        let cgnat = a == 100 && (64..128).contains(&b);
        if ip.is_private() || cgnat {
            return self.allow_private.then_some(()).ok_or(Denial::Private);
        }
        Ok(())
    }

    fn check_v6(&self, ip: Ipv6Addr) -> Result<(), Denial> {
        let first = ip.segments()[0];
        // AWS's IPv6 instance metadata endpoint.
        if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
            return Err(Denial::Metadata);
        }
        if first & 0xffc0 == 0xfe80 {
            return Err(Denial::LinkLocal);
        }
        if ip.is_unspecified() || ip.is_multicast() {
            return Err(Denial::NotUnicast);
        }
        if ip.is_loopback() {
            return self.allow_loopback.then_some(()).ok_or(Denial::Loopback);
        }
        if first & 0xfe00 == 0xfc00 {
            return self.allow_private.then_some(()).ok_or(Denial::Private);
        }
        Ok(())
    }

    /// Resolves `host` (a name or an IP literal) and returns the allowed
    /// addresses with `port`. A name any of whose addresses is refused is
    /// refused whole: a name that mixes public and metadata addresses is an
    /// attack, not a configuration.
    pub async fn resolve(&self, host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, EgressError> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => {
                let lookup = tokio::net::lookup_host((host, port));
                match tokio::time::timeout(timeout, lookup).await {
                    Err(_) => {
                        return Err(EgressError::ResolveTimeout {
                            host: host.to_owned(),
                            timeout_ms: timeout.as_millis(),
                        });
                    }
                    Ok(Err(error)) => {
                        return Err(EgressError::Resolve { host: host.to_owned(), reason: error.to_string() });
                    }
                    Ok(Ok(addrs)) => addrs.collect(),
                }
            }
        };
        if addrs.is_empty() {
            return Err(EgressError::Resolve { host: host.to_owned(), reason: "no addresses".into() });
        }
        let mut allowed = Vec::with_capacity(addrs.len());
        for addr in addrs {
            let ip = canonical(addr.ip());
            self.check(ip).map_err(|denial| EgressError::Denied { host: host.to_owned(), ip, denial })?;
            let addr = SocketAddr::new(ip, addr.port());
            if !allowed.contains(&addr) {
                allowed.push(addr);
            }
        }
        Ok(allowed)
    }
}

/// The IPv4 address an IPv6 address stands for, in every form that embeds
/// one, so `[::127.0.0.1]` or a 6to4 address of the metadata service cannot
/// slip past the IPv4 rules:
/// - IPv4-mapped `::ffff:a.b.c.d` and IPv4-compatible `::a.b.c.d` (deprecated,
///   but some stacks still route it; `::` and `::1` stay IPv6);
/// - 6to4 `2002:AABB:CCDD::/16`: the address in bits 16-47;
/// - NAT64 well-known prefix `64:ff9b::/96`: the last 32 bits;
/// - Teredo `2001:0::/32`: the client, the bitwise NOT of the last 32 bits.
pub fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let last32 = (u32::from(s[6]) << 16) | u32::from(s[7]);
    if let Some(mapped) = ip.to_ipv4_mapped() {
        return Some(mapped);
    }
    if s[..6] == [0; 6] && last32 > 1 {
        return Some(Ipv4Addr::from(last32));
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::from((u32::from(s[1]) << 16) | u32::from(s[2])));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(Ipv4Addr::from(last32));
    }
    if s[0] == 0x2001 && s[1] == 0 {
        return Some(Ipv4Addr::from(!last32));
    }
    None
}

/// IPv4-mapped IPv6 addresses (`::ffff:169.254.169.254`) are connected to
/// as the IPv4 address they are (the other embedding forms are reached over
/// IPv6, after [`EgressPolicy::check`] decided them by what they embed).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    const OPEN: EgressPolicy = EgressPolicy { allow_loopback: true, allow_private: true };
    const STRICT: EgressPolicy = EgressPolicy { allow_loopback: false, allow_private: false };

    #[test]
    fn metadata_and_link_local_are_refused_even_by_the_most_open_policy() {
        for addr in ["169.254.169.254", "::ffff:169.254.169.254", "100.100.100.200", "fd00:ec2::254"] {
            assert_eq!(OPEN.check(ip(addr)), Err(Denial::Metadata), "{addr}");
        }
        for addr in ["169.254.1.1", "fe80::1", "febf::1"] {
            assert_eq!(OPEN.check(ip(addr)), Err(Denial::LinkLocal), "{addr}");
        }
        for addr in ["0.0.0.0", "255.255.255.255", "224.0.0.1", "240.0.0.1", "::", "ff02::1"] {
            assert_eq!(OPEN.check(ip(addr)), Err(Denial::NotUnicast), "{addr}");
        }
    }

    #[test]
    fn loopback_and_private_follow_the_policy() {
        assert_eq!(STRICT.check(ip("127.0.0.1")), Err(Denial::Loopback));
        assert_eq!(STRICT.check(ip("::1")), Err(Denial::Loopback));
        assert_eq!(STRICT.check(ip("::ffff:127.0.0.1")), Err(Denial::Loopback));
        for addr in ["10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1", "fd12::1"] {
            assert_eq!(STRICT.check(ip(addr)), Err(Denial::Private), "{addr}");
            assert_eq!(OPEN.check(ip(addr)), Ok(()), "{addr}");
        }
        assert_eq!(OPEN.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(STRICT.check(ip("93.184.216.34")), Ok(()));
        assert_eq!(STRICT.check(ip("2606:2800:220:1::1")), Ok(()));
    }

    #[test]
    fn ipv4_compatible_addresses_are_decided_by_the_embedded_address() {
        assert_eq!(embedded_v4(v6("::127.0.0.1")), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(STRICT.check(ip("::127.0.0.1")), Err(Denial::Loopback));
        assert_eq!(OPEN.check(ip("::169.254.169.254")), Err(Denial::Metadata));
        assert_eq!(STRICT.check(ip("::10.0.0.1")), Err(Denial::Private));
        // `::1` and `::` keep their IPv6 meaning.
        assert_eq!(embedded_v4(v6("::1")), None);
        assert_eq!(STRICT.check(ip("::1")), Err(Denial::Loopback));
        assert_eq!(OPEN.check(ip("::")), Err(Denial::NotUnicast));
    }

    #[test]
    fn ipv4_mapped_addresses_are_decided_by_the_embedded_address() {
        assert_eq!(embedded_v4(v6("::ffff:10.1.2.3")), Some(Ipv4Addr::new(10, 1, 2, 3)));
        assert_eq!(STRICT.check(ip("::ffff:10.1.2.3")), Err(Denial::Private));
        assert_eq!(OPEN.check(ip("::ffff:100.100.100.200")), Err(Denial::Metadata));
        assert_eq!(STRICT.check(ip("::ffff:93.184.216.34")), Ok(()));
    }

    #[test]
    fn six_to_four_addresses_are_decided_by_the_embedded_address() {
        // 2002:7f00:0001:: carries 127.0.0.1; 2002:a9fe:a9fe:: 169.254.169.254.
        assert_eq!(embedded_v4(v6("2002:7f00:1::1")), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(STRICT.check(ip("2002:7f00:1::1")), Err(Denial::Loopback));
        assert_eq!(OPEN.check(ip("2002:a9fe:a9fe::")), Err(Denial::Metadata));
        assert_eq!(STRICT.check(ip("2002:c0a8:101::5")), Err(Denial::Private));
        assert_eq!(STRICT.check(ip("2002:5db8:d822::1")), Ok(()), "a public 6to4 address");
    }

    #[test]
    fn nat64_addresses_are_decided_by_the_embedded_address() {
        assert_eq!(embedded_v4(v6("64:ff9b::7f00:1")), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(STRICT.check(ip("64:ff9b::127.0.0.1")), Err(Denial::Loopback));
        assert_eq!(OPEN.check(ip("64:ff9b::169.254.169.254")), Err(Denial::Metadata));
        assert_eq!(STRICT.check(ip("64:ff9b::10.0.0.1")), Err(Denial::Private));
        assert_eq!(STRICT.check(ip("64:ff9b::93.184.216.34")), Ok(()));
    }

    #[test]
    fn teredo_addresses_are_decided_by_the_client_address() {
        // The client is the bitwise NOT of the last 32 bits (RFC 4380).
        let teredo = |client: Ipv4Addr| {
            let not = !u32::from(client);
            Ipv6Addr::new(0x2001, 0, 0x4136, 0xe378, 0x8000, 0x63bf, (not >> 16) as u16, not as u16)
        };
        let loopback = teredo(Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(loopback, v6("2001:0:4136:e378:8000:63bf:80ff:fffe"));
        assert_eq!(embedded_v4(loopback), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(STRICT.check(IpAddr::V6(loopback)), Err(Denial::Loopback));
        assert_eq!(OPEN.check(IpAddr::V6(teredo(Ipv4Addr::new(169, 254, 169, 254)))), Err(Denial::Metadata));
        assert_eq!(STRICT.check(IpAddr::V6(teredo(Ipv4Addr::new(192, 168, 0, 9)))), Err(Denial::Private));
        assert_eq!(STRICT.check(IpAddr::V6(teredo(Ipv4Addr::new(93, 184, 216, 34)))), Ok(()));
    }

    #[test]
    fn plain_ipv6_embeds_nothing() {
        for addr in ["2606:2800:220:1::1", "fd12::1", "fe80::1", "2001:db8::1", "2001:1::1"] {
            assert_eq!(embedded_v4(v6(addr)), None, "{addr}");
        }
    }

    #[tokio::test]
    async fn resolving_refuses_embedded_loopback_literals() {
        let denied = STRICT.resolve("[::127.0.0.1]", 5432, Duration::from_secs(1)).await;
        assert!(matches!(denied, Err(EgressError::Denied { denial: Denial::Loopback, .. })), "{denied:?}");
    }

    #[test]
    fn the_default_allows_private_networks_but_not_loopback() {
        let policy = EgressPolicy::default();
        assert_eq!(policy.check(ip("10.0.0.1")), Ok(()));
        assert_eq!(policy.check(ip("127.0.0.1")), Err(Denial::Loopback));
    }

    #[tokio::test]
    async fn resolving_applies_the_policy_and_keeps_the_port() {
        let allowed = OPEN.resolve("127.0.0.1", 5432, Duration::from_secs(1)).await.unwrap();
        assert_eq!(allowed, vec!["127.0.0.1:5432".parse().unwrap()]);
        let allowed = OPEN.resolve("localhost", 6379, Duration::from_secs(5)).await.unwrap();
        assert!(allowed.iter().all(|a| a.ip().is_loopback() && a.port() == 6379));
        let denied = OPEN.resolve("169.254.169.254", 80, Duration::from_secs(1)).await;
        assert!(matches!(denied, Err(EgressError::Denied { denial: Denial::Metadata, .. })));
        let denied = STRICT.resolve("localhost", 80, Duration::from_secs(5)).await;
        assert!(matches!(denied, Err(EgressError::Denied { denial: Denial::Loopback, .. })));
    }
}
