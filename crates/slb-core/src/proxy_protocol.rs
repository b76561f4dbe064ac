//! PROXY protocol version 2 (HAProxy's binary header), sans-IO: what a backend behind a
//! layer-4 listener reads first to learn the client's real address. TCP listeners send it
//! once at the start of each backend connection, UDP listeners in front of every datagram.
//!
//! ```text
//! signature (12)  \r\n\r\n\0\r\nQUIT\n
//! ver_cmd   (1)   0x21 = version 2, PROXY   (0x20 = LOCAL: no addresses, e.g. health checks)
//! fam       (1)   0x11 TCP/IPv4, 0x12 UDP/IPv4, 0x21 TCP/IPv6, 0x22 UDP/IPv6, 0x00 unspecified
//! len       (2)   big-endian length of what follows
//! addresses       IPv4: src(4) dst(4) sport(2) dport(2); IPv6: src(16) dst(16) sport(2) dport(2)
//! TLVs            type(1) len(2) value, up to `len` (skipped by this decoder)
//! ```
//!
//! A client and a listener of different families (an IPv4 client on an IPv6 listener)
//! are both written as IPv6, the IPv4 address mapped (`::ffff:a.b.c.d`).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// The 12 bytes every v2 header starts with.
pub const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// Bytes of a header this module writes: 28 for IPv4, 52 for IPv6.
pub const MAX_ENCODED_LEN: usize = 16 + 36;

/// The transport the addresses belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Stream,
    Datagram,
}

/// A decoded header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    /// `PROXY`: the connection or datagram came from `source` to `destination`.
    Proxy {
        transport: Transport,
        source: SocketAddr,
        destination: SocketAddr,
    },
    /// `LOCAL` (or an unspecified family): the sender's own traffic, no client address.
    Local,
}

/// Why bytes are not a v2 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not a PROXY protocol v2 signature")]
    Signature,
    #[error("unsupported version or command byte {0:#04x}")]
    VersionCommand(u8),
    #[error("unsupported address family byte {0:#04x}")]
    Family(u8),
    #[error("address block of {0} bytes is too short for its family")]
    ShortAddresses(usize),
}

/// Writes the header for traffic from `source` to `destination` into `out`; returns its
/// length (28 or 52 bytes).
pub fn encode(
    transport: Transport,
    source: SocketAddr,
    destination: SocketAddr,
    out: &mut [u8; MAX_ENCODED_LEN],
) -> usize {
    out[..12].copy_from_slice(&SIGNATURE);
    out[12] = 0x21;
    let proto = match transport {
        Transport::Stream => 0x1,
        Transport::Datagram => 0x2,
    };
    match (source.ip(), destination.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out[13] = 0x10 | proto;
            out[14..16].copy_from_slice(&12u16.to_be_bytes());
            out[16..20].copy_from_slice(&s.octets());
            out[20..24].copy_from_slice(&d.octets());
            out[24..26].copy_from_slice(&source.port().to_be_bytes());
            out[26..28].copy_from_slice(&destination.port().to_be_bytes());
            28
        }
        (s, d) => {
            out[13] = 0x20 | proto;
            out[14..16].copy_from_slice(&36u16.to_be_bytes());
            out[16..32].copy_from_slice(&v6(s).octets());
            out[32..48].copy_from_slice(&v6(d).octets());
            out[48..50].copy_from_slice(&source.port().to_be_bytes());
            out[50..52].copy_from_slice(&destination.port().to_be_bytes());
            52
        }
    }
}

fn v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// Reads a header from the start of `buf`: `Ok(None)` when more bytes are needed,
/// `Ok(Some((header, consumed)))` when complete (TLVs skipped), an error when `buf` cannot
/// start a v2 header.
pub fn decode(buf: &[u8]) -> Result<Option<(Header, usize)>, DecodeError> {
    let sig = buf.len().min(12);
    if buf[..sig] != SIGNATURE[..sig] {
        return Err(DecodeError::Signature);
    }
    if buf.len() < 16 {
        return Ok(None);
    }
    let len = u16::from_be_bytes([buf[14], buf[15]]) as usize;
    if buf.len() < 16 + len {
        return Ok(None);
    }
    let body = &buf[16..16 + len];
    let consumed = 16 + len;
    match buf[12] {
        0x20 => return Ok(Some((Header::Local, consumed))),
        0x21 => {}
        other => return Err(DecodeError::VersionCommand(other)),
    }
    let fam = buf[13];
    let transport = match fam & 0x0f {
        0x1 => Transport::Stream,
        0x2 => Transport::Datagram,
        0x0 if fam == 0 => return Ok(Some((Header::Local, consumed))),
        _ => return Err(DecodeError::Family(fam)),
    };
    let port = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
    let (source, destination) = match fam >> 4 {
        0x1 => {
            if body.len() < 12 {
                return Err(DecodeError::ShortAddresses(body.len()));
            }
            let ip = |at: usize| IpAddr::from([body[at], body[at + 1], body[at + 2], body[at + 3]]);
            (
                SocketAddr::new(ip(0), port(8)),
                SocketAddr::new(ip(4), port(10)),
            )
        }
        0x2 => {
            if body.len() < 36 {
                return Err(DecodeError::ShortAddresses(body.len()));
            }
            let ip = |at: usize| {
                let mut o = [0u8; 16];
                o.copy_from_slice(&body[at..at + 16]);
                IpAddr::from(o)
            };
            (
                SocketAddr::new(ip(0), port(32)),
                SocketAddr::new(ip(16), port(34)),
            )
        }
        _ => return Err(DecodeError::Family(fam)),
    };
    Ok(Some((
        Header::Proxy {
            transport,
            source,
            destination,
        },
        consumed,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(t: Transport, s: SocketAddr, d: SocketAddr) -> (Header, usize, usize) {
        let mut out = [0u8; MAX_ENCODED_LEN];
        let n = encode(t, s, d, &mut out);
        let (h, used) = decode(&out[..n]).unwrap().unwrap();
        (h, used, n)
    }

    #[test]
    fn ipv4_header_is_28_bytes_and_matches_the_spec_example() {
        let mut out = [0u8; MAX_ENCODED_LEN];
        let n = encode(
            Transport::Stream,
            "192.0.2.1:56324".parse().unwrap(),
            "198.51.100.7:443".parse().unwrap(),
            &mut out,
        );
        assert_eq!(n, 28);
        assert_eq!(
            &out[12..28],
            &[0x21, 0x11, 0, 12, 192, 0, 2, 1, 198, 51, 100, 7, 0xdc, 0x04, 0x01, 0xbb]
        );
    }

    #[test]
    fn mixed_families_become_mapped_ipv6() {
        let s: SocketAddr = "10.1.2.3:4000".parse().unwrap();
        let d: SocketAddr = "[2001:db8::1]:53".parse().unwrap();
        let (h, _, n) = round_trip(Transport::Datagram, s, d);
        assert_eq!(n, 52);
        let Header::Proxy {
            source,
            destination,
            transport,
        } = h
        else {
            panic!("{h:?}")
        };
        assert_eq!(transport, Transport::Datagram);
        assert_eq!(source, "[::ffff:10.1.2.3]:4000".parse().unwrap());
        assert_eq!(destination, d);
    }

    #[test]
    fn partial_local_tlvs_and_garbage() {
        let mut out = [0u8; MAX_ENCODED_LEN];
        let n = encode(
            Transport::Stream,
            "[2001:db8::2]:1".parse().unwrap(),
            "[2001:db8::3]:2".parse().unwrap(),
            &mut out,
        );
        for end in 0..n {
            assert_eq!(decode(&out[..end]), Ok(None), "prefix of {end} bytes");
        }
        // LOCAL with a TLV: consumed whole, no addresses.
        let mut local = SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0, 4, 0xea, 0, 1, 7]);
        local.extend_from_slice(b"payload");
        assert_eq!(decode(&local), Ok(Some((Header::Local, 20))));
        // A PROXY header followed by TLVs: the TLVs are skipped.
        let mut with_tlv = out[..n].to_vec();
        with_tlv[15] += 5;
        with_tlv.extend_from_slice(&[0x04, 0, 2, 9, 9]);
        assert_eq!(decode(&with_tlv).unwrap().unwrap().1, n + 5);
        assert_eq!(decode(b"GET / HTTP/1.1"), Err(DecodeError::Signature));
        let mut v1 = out[..n].to_vec();
        v1[12] = 0x11;
        assert_eq!(decode(&v1), Err(DecodeError::VersionCommand(0x11)));
        let mut short = out[..28].to_vec();
        short[13] = 0x21;
        short[15] = 12;
        assert_eq!(decode(&short), Err(DecodeError::ShortAddresses(12)));
    }

    fn addr() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::new(ip.into(), p)),
            (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::new(ip.into(), p)),
        ]
    }

    proptest! {
        /// Whatever is encoded decodes to the same addresses (IPv4 mapped into IPv6 when
        /// the families differ) and consumes exactly what was written.
        #[test]
        fn encode_then_decode(s in addr(), d in addr(), dgram in any::<bool>()) {
            let t = if dgram { Transport::Datagram } else { Transport::Stream };
            let (h, used, n) = round_trip(t, s, d);
            prop_assert_eq!(used, n);
            let same_family = s.is_ipv4() == d.is_ipv4();
            let (es, ed) = if same_family {
                (s, d)
            } else {
                (
                    SocketAddr::new(v6(s.ip()).into(), s.port()),
                    SocketAddr::new(v6(d.ip()).into(), d.port()),
                )
            };
            prop_assert_eq!(h, Header::Proxy { transport: t, source: es, destination: ed });
        }

        /// Arbitrary bytes never panic, and a complete answer never claims more bytes than given.
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80), sig in any::<bool>()) {
            let mut input = if sig { SIGNATURE.to_vec() } else { Vec::new() };
            input.extend_from_slice(&bytes);
            if let Ok(Some((_, used))) = decode(&input) {
                prop_assert!(used <= input.len());
            }
        }
    }
}
