//! IPv4 CIDR blocks as EC2 takes them: `a.b.c.d/n` with no bits set past the prefix.

use std::fmt;
use std::net::Ipv4Addr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    network: u32,
    prefix: u8,
}

impl Cidr {
    /// The block `text` names, if it is one: four decimal octets, a prefix of 0 to 32, and no
    /// host bits set.
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = text.split_once('/')?;
        if prefix.is_empty() || prefix.len() > 2 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let prefix: u8 = prefix.parse().ok()?;
        let addr: Ipv4Addr = addr.parse().ok()?;
        let cidr = Cidr::new(addr, prefix)?;
        (u32::from(addr) == cidr.network).then_some(cidr)
    }

    /// The block of this prefix holding `addr` (host bits cleared).
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Cidr> {
        (prefix <= 32).then(|| Cidr {
            network: u32::from(addr) & mask(prefix),
            prefix,
        })
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.network)
    }

    /// How many addresses the block holds.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    /// The block's `n`th address (0 is the network address), if it holds that many.
    pub fn nth(&self, n: u64) -> Option<Ipv4Addr> {
        (n < self.size()).then(|| Ipv4Addr::from(self.network.wrapping_add(n as u32)))
    }

    /// The position of `addr` in the block, if it is in it.
    pub fn index_of(&self, addr: Ipv4Addr) -> Option<u64> {
        let a = u32::from(addr);
        (a & mask(self.prefix) == self.network).then(|| u64::from(a - self.network))
    }

    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        self.index_of(addr).is_some()
    }

    /// Whether `other` lies wholly inside this block.
    pub fn covers(&self, other: &Cidr) -> bool {
        other.prefix >= self.prefix && self.contains(other.network())
    }

    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.covers(other) || other.covers(self)
    }

    /// The addresses an instance may have, as EC2 reserves them: the network address, +1 (the
    /// router), +2 (DNS), +3 (reserved) and the broadcast address are not.
    pub fn assignable(&self, addr: Ipv4Addr) -> bool {
        self.index_of(addr)
            .is_some_and(|i| i >= RESERVED_LOW && i + 1 < self.size())
    }

    /// How many addresses instances may have in the block.
    pub fn assignable_count(&self) -> u64 {
        self.size().saturating_sub(RESERVED_LOW + 1)
    }
}

/// Addresses 0 to 3 of every subnet are EC2's.
pub const RESERVED_LOW: u64 = 4;

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_canonical_blocks() {
        let c = Cidr::parse("10.0.0.0/16").unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/16");
        assert_eq!(c.size(), 65536);
        assert_eq!(Cidr::parse("10.0.0.1/16"), None);
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(Cidr::parse("10.0.0.0"), None);
        assert_eq!(Cidr::parse("10.0.0.0/"), None);
        assert_eq!(Cidr::parse("10.0.0.0/+8"), None);
        assert_eq!(Cidr::parse("10.0.0/8"), None);
        assert_eq!(Cidr::parse("0.0.0.0/0").unwrap().size(), 1 << 32);
    }

    #[test]
    fn containment_and_overlap() {
        let vpc = Cidr::parse("10.0.0.0/16").unwrap();
        let a = Cidr::parse("10.0.1.0/24").unwrap();
        let b = Cidr::parse("10.0.1.128/25").unwrap();
        let c = Cidr::parse("10.1.0.0/24").unwrap();
        assert!(vpc.covers(&a) && !a.covers(&vpc));
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c) && !vpc.covers(&c));
        assert_eq!(a.nth(5), Some(Ipv4Addr::new(10, 0, 1, 5)));
        assert_eq!(a.nth(256), None);
        assert_eq!(a.index_of(Ipv4Addr::new(10, 0, 1, 9)), Some(9));
        assert_eq!(a.index_of(Ipv4Addr::new(10, 0, 2, 9)), None);
    }

    #[test]
    fn ec2_reserves_five_addresses() {
        let s = Cidr::parse("10.0.1.0/28").unwrap();
        assert_eq!(s.assignable_count(), 11);
        let ok: Vec<u64> = (0..16)
            .filter(|&i| s.assignable(s.nth(i).unwrap()))
            .collect();
        assert_eq!(ok, (4..15).collect::<Vec<_>>());
    }
}
