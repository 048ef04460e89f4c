//! The networks of a locality run (`pids`, papers 000 and 001), shared by
//! the lab and the simulator: network `pid` (from 0) is the loopback /24
//! 127.0.(pid+1).0, its host `h` (from 0) is 127.0.(pid+1).(h+2), and
//! the publisher is 127.0.1.1 in the first. The locality map names them
//! `pid0`, `pid1`, ...

use std::net::{IpAddr, Ipv4Addr};

use riffle_policies::locality::{LocalityMap, PidDef, Prefix};

/// The publisher's address (network 0).
pub const PUBLISHER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 1, 1);

/// Host `h` of network `pid`: 127.0.(pid+1).(h+2); None past the /24 (or
/// past network 254).
pub fn host_v4(pid: u32, h: u32) -> Option<Ipv4Addr> {
    let net = u8::try_from(pid.checked_add(1)?).ok()?;
    let host = u8::try_from(h.checked_add(2)?).ok()?;
    Some(Ipv4Addr::new(127, 0, net, host))
}

/// Network `pid`'s /24 (`pid` below 255).
pub fn net(pid: u32) -> Prefix {
    let octet = u8::try_from(pid + 1).unwrap_or(u8::MAX);
    Prefix::new(IpAddr::V4(Ipv4Addr::new(127, 0, octet, 0)), 24)
        .expect("a /24 is a valid IPv4 prefix")
}

/// The networks as a locality map: `pid0`, `pid1`, ...
pub fn lab_map(pids: u32) -> LocalityMap {
    LocalityMap::new(
        (0..pids)
            .map(|p| PidDef {
                name: format!("pid{p}"),
                prefixes: vec![net(p)],
            })
            .collect(),
    )
    .expect("distinct names, one prefix each")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_in_their_network() {
        let map = lab_map(3);
        for pid in 0..3 {
            for h in [0, 7, 253] {
                let ip = host_v4(pid, h).expect("in the /24");
                assert_eq!(map.pid_of(IpAddr::V4(ip)), u16::try_from(pid).ok());
            }
        }
        assert_eq!(map.pid_of(IpAddr::V4(PUBLISHER_IP)), Some(0));
        assert_eq!(host_v4(0, 254), None);
        assert_eq!(host_v4(255, 0), None);
    }
}
