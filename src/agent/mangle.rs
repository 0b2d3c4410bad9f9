//! What the packet agent does to one IP packet's bytes: find its destination, flip a bit of its
//! transport payload, and make the TCP/UDP checksum right again (so a corrupted packet reaches the
//! application instead of being dropped by the receiver's kernel as loss). Pure functions over
//! byte slices; etherparse reads the headers and computes the checksums.

use etherparse::{IpNumber, Ipv4Header, Ipv6Header, TcpHeader, UdpHeader};
use std::net::IpAddr;

/// The destination address of an IPv4 or IPv6 packet.
pub fn destination(packet: &[u8]) -> Option<IpAddr> {
    match packet.first()? >> 4 {
        4 if packet.len() >= 20 => Some(IpAddr::from(<[u8; 4]>::try_from(&packet[16..20]).ok()?)),
        6 if packet.len() >= 40 => Some(IpAddr::from(<[u8; 16]>::try_from(&packet[24..40]).ok()?)),
        _ => None,
    }
}

/// Where the transport header starts, which protocol it is, and the addresses for the checksum.
struct Transport {
    offset: usize,
    protocol: IpNumber,
    addresses: Addresses,
}

enum Addresses {
    V4([u8; 4], [u8; 4]),
    V6([u8; 16], [u8; 16]),
}

fn transport(packet: &[u8]) -> Option<Transport> {
    match packet.first()? >> 4 {
        4 => {
            let (h, _) = Ipv4Header::from_slice(packet).ok()?;
            // Only whole datagrams: a fragment's payload is not a whole segment.
            if h.is_fragmenting_payload() {
                return None;
            }
            let end = (h.total_len as usize).min(packet.len());
            (end == packet.len()).then_some(Transport {
                offset: h.header_len(),
                protocol: h.protocol,
                addresses: Addresses::V4(h.source, h.destination),
            })
        }
        6 => {
            let (h, _) = Ipv6Header::from_slice(packet).ok()?;
            // Extension headers are not followed: only TCP/UDP right after the fixed header.
            Some(Transport { offset: 40, protocol: h.next_header, addresses: Addresses::V6(h.source, h.destination) })
        }
        _ => None,
    }
}

/// Recompute the TCP or UDP checksum of `packet` in place. Returns false for other protocols or
/// packets it cannot parse (left as they are).
pub fn fix_checksum(packet: &mut [u8]) -> bool {
    let Some(t) = transport(packet) else { return false };
    let body = &packet[t.offset..];
    let (sum, at) = match t.protocol {
        IpNumber::TCP => {
            let Ok((h, payload)) = TcpHeader::from_slice(body) else { return false };
            let sum = match t.addresses {
                Addresses::V4(s, d) => h.calc_checksum_ipv4_raw(s, d, payload),
                Addresses::V6(s, d) => h.calc_checksum_ipv6_raw(s, d, payload),
            };
            (sum.ok(), t.offset + 16)
        }
        IpNumber::UDP => {
            let Ok((h, payload)) = UdpHeader::from_slice(body) else { return false };
            let sum = match t.addresses {
                Addresses::V4(s, d) => h.calc_checksum_ipv4_raw(s, d, payload),
                Addresses::V6(s, d) => h.calc_checksum_ipv6_raw(s, d, payload),
            };
            (sum.ok(), t.offset + 6)
        }
        _ => return false,
    };
    let Some(sum) = sum else { return false };
    packet[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    true
}

/// The range of `packet` holding the TCP/UDP payload (after the transport header), if any.
pub fn payload_range(packet: &[u8]) -> Option<std::ops::Range<usize>> {
    let t = transport(packet)?;
    let body = &packet[t.offset..];
    let header = match t.protocol {
        IpNumber::TCP => TcpHeader::from_slice(body).ok()?.0.header_len(),
        IpNumber::UDP => UdpHeader::LEN,
        _ => return None,
    };
    let start = t.offset + header;
    (start < packet.len()).then_some(start..packet.len())
}

/// Flip bit `bit` (taken modulo the payload's bits) of the transport payload and fix the
/// checksum. Returns false (packet unchanged) when there is no payload to corrupt.
pub fn corrupt(packet: &mut [u8], bit: usize) -> bool {
    let Some(range) = payload_range(packet) else { return false };
    let bits = range.len() * 8;
    let bit = bit % bits;
    packet[range.start + bit / 8] ^= 1 << (bit % 8);
    fix_checksum(packet)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn udp(payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).udp(4000, 5000);
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    fn tcp(payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).tcp(4000, 6379, 1, 1000);
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    fn checksum_ok(packet: &[u8]) -> bool {
        let mut copy = packet.to_vec();
        fix_checksum(&mut copy) && copy == packet
    }

    #[test]
    fn corrupts_the_payload_only_and_keeps_checksums_valid() {
        for original in [udp(b"hello world"), tcp(b"*1\r\n$4\r\nPING\r\n")] {
            assert!(checksum_ok(&original));
            let mut p = original.clone();
            assert!(corrupt(&mut p, 13));
            assert_ne!(p, original);
            assert!(checksum_ok(&p), "checksum recomputed");
            let range = payload_range(&p).unwrap();
            assert_eq!(p[..range.start - 8], original[..range.start - 8], "IP header untouched");
            let diff: u32 = p[range.clone()].iter().zip(&original[range]).map(|(a, b)| (a ^ b).count_ones()).sum();
            assert_eq!(diff, 1, "exactly one payload bit flipped");
        }
    }

    #[test]
    fn no_payload_no_corruption_and_destinations() {
        let mut empty = tcp(b"");
        let before = empty.clone();
        assert!(!corrupt(&mut empty, 3));
        assert_eq!(empty, before);
        assert_eq!(destination(&udp(b"x")), Some("10.0.0.2".parse().unwrap()));
        assert_eq!(destination(&[0x45, 0]), None);
    }

    #[test]
    fn a_partial_checksum_is_made_whole() {
        // Locally sent packets reach the queue with only the pseudo-header sum (checksum offload).
        let mut p = udp(b"payload");
        let at = 20 + 6;
        p[at] = 0x12;
        p[at + 1] = 0x34;
        assert!(!checksum_ok(&p));
        assert!(fix_checksum(&mut p));
        assert!(checksum_ok(&p));
    }
}
