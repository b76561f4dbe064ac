//! PROXY protocol v2 decoding of arbitrary bytes: never panics, never claims more bytes
//! than it was given, and a decoded PROXY header re-encodes to one that decodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slb_core::proxy_protocol::{decode, encode, Header, MAX_ENCODED_LEN};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((header, used))) = decode(data) {
        assert!(used <= data.len());
        if let Header::Proxy {
            transport,
            source,
            destination,
        } = header
        {
            let mut out = [0u8; MAX_ENCODED_LEN];
            let n = encode(transport, source, destination, &mut out);
            let (again, used_again) = decode(&out[..n]).unwrap().unwrap();
            assert_eq!(used_again, n);
            assert_eq!(again, header);
        }
    }
});
