//! Which network addresses Keyward may send to on a user's behalf.
//!
//! A webhook URL is chosen by an organization's administrator, and Keyward
//! sends to it from inside the operator's network: without a check, an
//! endpoint at `http://169.254.169.254/` or `http://10.0.0.5:6379/` would
//! turn deliveries into requests against the operator's own services. Only
//! globally routable unicast addresses pass; the check runs on every address
//! a host name resolves to, at every attempt (see the server's resolver).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// True when `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        // 100.64.0.0/10: shared address space (carrier-grade NAT, and some
        // clouds' metadata services).
        || (a == 100 && (64..128).contains(&b))
        // 192.0.0.0/24: protocol assignments.
        || (a == 192 && b == 0 && c == 0)
        // 198.18.0.0/15: benchmarking.
        || (a == 198 && (b == 18 || b == 19))
        // 192.88.99.0/24: 6to4 relays.
        || (a == 192 && b == 88 && c == 99)
        // 240.0.0.0/4: reserved.
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    // 2002::/16: 6to4, which carries an IPv4 address.
    if segments[0] == 0x2002 {
        let [a, b] = segments[1].to_be_bytes();
        let [c, d] = segments[2].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // fc00::/7: unique local (AWS's metadata service answers at fd00:ec2::254).
        || (segments[0] & 0xfe00) == 0xfc00
        // fe80::/10: link-local.
        || (segments[0] & 0xffc0) == 0xfe80
        // ::/96: IPv4-compatible (deprecated), may reach IPv4 hosts.
        || segments[..6].iter().all(|s| *s == 0)
        // 64:ff9b::/96 and 64:ff9b:1::/48: NAT64, may reach private IPv4 hosts.
        || (segments[0] == 0x64 && segments[1] == 0xff9b)
        // 2001:db8::/32 and 3fff::/20: documentation.
        || (segments[0] == 0x2001 && segments[1] == 0x0db8)
        || (segments[0] == 0x3fff && segments[1] < 0x1000)
        // 2001::/23: protocol assignments (Teredo, which reaches IPv4 hosts, among them).
        || (segments[0] == 0x2001 && segments[1] < 0x0200)
        // 100::/64: discard.
        || (segments[0] == 0x100 && segments[1..4].iter().all(|s| *s == 0))
        // ::ffff:0:0:0/96: IPv4-translated.
        || (segments[..4].iter().all(|s| *s == 0) && segments[4] == 0xffff && segments[5] == 0))
}

/// Why a URL's host is refused before any lookup: an address literal that
/// is not public, or a name that only ever means this machine. `None` when
/// the host may be tried (its addresses are checked once resolved).
pub fn blocked_host(url: &url::Url) -> Option<String> {
    let refused =
        || Some("must not point to a loopback, private, link-local or metadata address".to_owned());
    match url.host()? {
        url::Host::Ipv4(ip) if !is_public_v4(ip) => refused(),
        url::Host::Ipv6(ip) if !is_public_v6(ip) => refused(),
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if name == "localhost" || name.ends_with(".localhost") {
                refused()
            } else {
                None
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_unicast_addresses_pass() {
        for ok in [
            "93.184.215.14",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2002:5db8:d70e::1",
        ] {
            assert!(is_public(ok.parse().unwrap()), "{ok}");
        }
        for blocked in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "2002:a00:1::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "100::1",
            "192.88.99.1",
        ] {
            assert!(!is_public(blocked.parse().unwrap()), "{blocked}");
        }
    }
}
