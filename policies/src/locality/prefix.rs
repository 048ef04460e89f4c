//! Address prefixes (CIDR): `10.0.0.0/8`, `2001:db8::/32`, a bare address
//! (a /32 or /128). Parsing never panics; host bits past the length are
//! cleared, so `127.0.1.7/24` is `127.0.1.0/24`. An IPv4-mapped IPv6
//! address (`::ffff:a.b.c.d`, how a dual-stack socket reports an IPv4
//! peer) is matched as the IPv4 address it carries.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::LocalityError;

/// A network: an address with every bit past `len` clear, and `len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    net: IpAddr,
    len: u8,
}

impl Prefix {
    /// The network of `ip` at `len` bits (host bits cleared). Fails when
    /// `len` is longer than the address.
    pub fn new(ip: IpAddr, len: u8) -> Result<Prefix, LocalityError> {
        let ip = ip.to_canonical();
        let max = max_len(ip);
        if len > max {
            return Err(LocalityError::BadPrefix(format!(
                "{ip}/{len}: an {} prefix has at most {max} bits",
                if max == 32 { "IPv4" } else { "IPv6" }
            )));
        }
        Ok(Prefix {
            net: mask(ip, len),
            len,
        })
    }

    /// The network's first address.
    pub fn network(&self) -> IpAddr {
        self.net
    }

    /// Its length in bits.
    pub fn len(&self) -> u8 {
        self.len
    }

    /// A zero-length prefix matches every address of its family.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Does the network hold `ip`?
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.net.is_ipv4() && mask(ip, self.len) == self.net
    }
}

impl FromStr for Prefix {
    type Err = LocalityError;

    fn from_str(s: &str) -> Result<Prefix, LocalityError> {
        let s = s.trim();
        let bad = || LocalityError::BadPrefix(format!("{s:?} is not an address prefix"));
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let ip: IpAddr = addr.parse().map_err(|_| bad())?;
        let len = match len {
            Some(l) => l.parse::<u8>().map_err(|_| bad())?,
            None => max_len(ip.to_canonical()),
        };
        Prefix::new(ip, len)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.len)
    }
}

fn max_len(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

/// `ip` with every bit past `len` cleared (`len` at most the address's).
pub(super) fn mask(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let keep = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & keep))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let keep = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & keep))
        }
    }
}
