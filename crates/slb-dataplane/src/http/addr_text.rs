//! Addresses and ports as text in a stack buffer, for the forwarded headers every proxied
//! request carries: `to_string()` cost an allocation and the formatting machinery each time.

use std::io::Write as _;
use std::net::IpAddr;

/// Room for the longest text here (an IPv6 address is at most 45 bytes).
const ROOM: usize = 48;

/// Short ASCII text held inline.
pub(crate) struct AddrText {
    buf: [u8; ROOM],
    len: usize,
}

impl AddrText {
    fn empty() -> Self {
        Self {
            buf: [0; ROOM],
            len: 0,
        }
    }

    fn push(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    /// The text's bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// `ip` as `Display` writes it; IPv4 (the common case) without the formatting machinery.
    pub(crate) fn ip(ip: IpAddr) -> Self {
        let mut t = Self::empty();
        match ip {
            IpAddr::V4(v4) => {
                for (i, octet) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        t.push(b'.');
                    }
                    if octet >= 100 {
                        t.push(b'0' + octet / 100);
                    }
                    if octet >= 10 {
                        t.push(b'0' + octet / 10 % 10);
                    }
                    t.push(b'0' + octet % 10);
                }
            }
            IpAddr::V6(_) => {
                let mut rest = &mut t.buf[..];
                let _ = write!(rest, "{ip}");
                t.len = ROOM - rest.len();
            }
        }
        t
    }

    /// `n` in decimal.
    pub(crate) fn port(n: u16) -> Self {
        let mut t = Self::empty();
        t.decimal(n);
        t
    }

    fn decimal(&mut self, n: u16) {
        let mut digits = [0u8; 5];
        let mut i = digits.len();
        let mut n = n;
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for &d in &digits[i..] {
            self.push(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_as_display_does() {
        for ip in [
            "0.0.0.0",
            "9.10.99.100",
            "255.255.255.255",
            "::1",
            "2001:db8::7",
            "1111:2222:3333:4444:5555:6666:7777:8888",
            "::ffff:255.255.255.255",
        ] {
            let t = AddrText::ip(ip.parse().unwrap());
            assert_eq!(std::str::from_utf8(t.as_bytes()).unwrap(), ip);
        }
        for p in [0u16, 7, 80, 443, 10000, 65535] {
            assert_eq!(AddrText::port(p).as_bytes(), p.to_string().as_bytes());
        }
    }
}
