//! The key server's wire protocol, sans-IO: length-prefixed binary frames over a mutually
//! authenticated TLS connection, one request answered before the next.
//!
//! ```text
//! frame    = length:u32be body            (length <= MAX_FRAME)
//! request  = op:u8 id_len:u16be id ...
//!   Sign   (1): scheme:u16be message      (message = the rest of the body)
//!   Put    (2): pem                       (the private key, PEM)
//!   Delete (3):
//! response = status:u8 payload            (Ok: the signature or nothing; else a message)
//! ```

use rustls::SignatureScheme;

/// Largest frame body either side accepts: a PEM key or a handshake transcript fits
/// with room to spare.
pub const MAX_FRAME: usize = 64 * 1024;

/// What a node asks of the key server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Sign `message` with key `id` using `scheme`.
    Sign {
        id: String,
        scheme: SignatureScheme,
        message: Vec<u8>,
    },
    /// Keep `pem` as key `id` (replacing any earlier one).
    Put { id: String, pem: String },
    /// Forget key `id`; not an error if it is already gone.
    Delete { id: String },
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok = 0,
    /// No key with that ID.
    NotFound = 1,
    /// The request could not be understood or the key cannot do what was asked.
    BadRequest = 2,
    /// The key server failed (storage, signing).
    Failed = 3,
}

/// An answer: `payload` is the signature for a successful Sign, a message otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: Status,
    pub payload: Vec<u8>,
}

impl Response {
    /// A failure answer carrying `message`.
    pub fn error(status: Status, message: impl Into<String>) -> Self {
        Response {
            status,
            payload: message.into().into_bytes(),
        }
    }
}

/// Why bytes are not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("frame of {0} bytes exceeds the {MAX_FRAME}-byte limit")]
    TooLarge(usize),
    #[error("truncated frame")]
    Truncated,
    #[error("unknown operation {0}")]
    UnknownOp(u8),
    #[error("unknown status {0}")]
    UnknownStatus(u8),
    #[error("key ID or key is not UTF-8")]
    NotUtf8,
}

/// The body length announced by a frame header, checked against [`MAX_FRAME`].
pub fn frame_len(header: [u8; 4]) -> Result<usize, ProtoError> {
    let n = u32::from_be_bytes(header) as usize;
    if n > MAX_FRAME {
        return Err(ProtoError::TooLarge(n));
    }
    Ok(n)
}

fn frame(body: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// A request as a complete frame (header included).
pub fn encode_request(r: &Request) -> Result<Vec<u8>, ProtoError> {
    let (op, id) = match r {
        Request::Sign { id, .. } => (1u8, id),
        Request::Put { id, .. } => (2, id),
        Request::Delete { id } => (3, id),
    };
    let id_len = u16::try_from(id.len()).map_err(|_| ProtoError::TooLarge(id.len()))?;
    let mut body = vec![op];
    body.extend_from_slice(&id_len.to_be_bytes());
    body.extend_from_slice(id.as_bytes());
    match r {
        Request::Sign {
            scheme, message, ..
        } => {
            body.extend_from_slice(&u16::from(*scheme).to_be_bytes());
            body.extend_from_slice(message);
        }
        Request::Put { pem, .. } => body.extend_from_slice(pem.as_bytes()),
        Request::Delete { .. } => {}
    }
    if body.len() > MAX_FRAME {
        return Err(ProtoError::TooLarge(body.len()));
    }
    Ok(frame(body))
}

/// A request from a frame body (header already read).
pub fn decode_request(body: &[u8]) -> Result<Request, ProtoError> {
    let (&op, rest) = body.split_first().ok_or(ProtoError::Truncated)?;
    if rest.len() < 2 {
        return Err(ProtoError::Truncated);
    }
    let id_len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
    let rest = &rest[2..];
    if rest.len() < id_len {
        return Err(ProtoError::Truncated);
    }
    let id = std::str::from_utf8(&rest[..id_len])
        .map_err(|_| ProtoError::NotUtf8)?
        .to_string();
    let rest = &rest[id_len..];
    match op {
        1 => {
            if rest.len() < 2 {
                return Err(ProtoError::Truncated);
            }
            Ok(Request::Sign {
                id,
                scheme: SignatureScheme::from(u16::from_be_bytes([rest[0], rest[1]])),
                message: rest[2..].to_vec(),
            })
        }
        2 => Ok(Request::Put {
            id,
            pem: String::from_utf8(rest.to_vec()).map_err(|_| ProtoError::NotUtf8)?,
        }),
        3 => Ok(Request::Delete { id }),
        other => Err(ProtoError::UnknownOp(other)),
    }
}

/// A response as a complete frame (header included).
pub fn encode_response(r: &Response) -> Vec<u8> {
    let mut body = Vec::with_capacity(1 + r.payload.len());
    body.push(r.status as u8);
    // A message longer than a frame is cut; a signature never is.
    let room = MAX_FRAME - 1;
    body.extend_from_slice(&r.payload[..r.payload.len().min(room)]);
    frame(body)
}

/// A response from a frame body (header already read).
pub fn decode_response(body: &[u8]) -> Result<Response, ProtoError> {
    let (&status, payload) = body.split_first().ok_or(ProtoError::Truncated)?;
    let status = match status {
        0 => Status::Ok,
        1 => Status::NotFound,
        2 => Status::BadRequest,
        3 => Status::Failed,
        other => return Err(ProtoError::UnknownStatus(other)),
    };
    Ok(Response {
        status,
        payload: payload.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(r: Request) {
        let f = encode_request(&r).unwrap();
        let n = frame_len(f[..4].try_into().unwrap()).unwrap();
        assert_eq!(n, f.len() - 4);
        assert_eq!(decode_request(&f[4..]).unwrap(), r);
    }

    #[test]
    fn requests_round_trip() {
        round_trip(Request::Sign {
            id: "cert-1".into(),
            scheme: SignatureScheme::ECDSA_NISTP256_SHA256,
            message: vec![0, 1, 2, 255],
        });
        round_trip(Request::Sign {
            id: String::new(),
            scheme: SignatureScheme::RSA_PSS_SHA256,
            message: Vec::new(),
        });
        round_trip(Request::Put {
            id: "cert-2".into(),
            pem: "-----BEGIN PRIVATE KEY-----\n".into(),
        });
        round_trip(Request::Delete { id: "ü".into() });
    }

    #[test]
    fn responses_round_trip() {
        for r in [
            Response {
                status: Status::Ok,
                payload: vec![9; 72],
            },
            Response::error(Status::NotFound, "no key cert-1"),
            Response::error(Status::BadRequest, ""),
            Response::error(Status::Failed, "disk"),
        ] {
            let f = encode_response(&r);
            assert_eq!(decode_response(&f[4..]).unwrap(), r);
        }
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        assert_eq!(
            frame_len(((MAX_FRAME + 1) as u32).to_be_bytes()),
            Err(ProtoError::TooLarge(MAX_FRAME + 1))
        );
        assert_eq!(decode_request(&[]), Err(ProtoError::Truncated));
        assert_eq!(decode_request(&[1, 0]), Err(ProtoError::Truncated));
        assert_eq!(decode_request(&[1, 0, 5, b'a']), Err(ProtoError::Truncated));
        assert_eq!(decode_request(&[1, 0, 0, 4]), Err(ProtoError::Truncated));
        assert_eq!(decode_request(&[9, 0, 0]), Err(ProtoError::UnknownOp(9)));
        assert_eq!(
            decode_request(&[3, 0, 2, 0xff, 0xfe]),
            Err(ProtoError::NotUtf8)
        );
        assert_eq!(decode_response(&[7]), Err(ProtoError::UnknownStatus(7)));
        assert_eq!(decode_response(&[]), Err(ProtoError::Truncated));
        let huge = Request::Put {
            id: "x".into(),
            pem: "a".repeat(MAX_FRAME),
        };
        assert!(matches!(
            encode_request(&huge),
            Err(ProtoError::TooLarge(_))
        ));
        // Every prefix of a valid body decodes or fails cleanly.
        let f = encode_request(&Request::Sign {
            id: "cert".into(),
            scheme: SignatureScheme::ED25519,
            message: vec![1, 2, 3],
        })
        .unwrap();
        for end in 0..f.len() - 4 {
            let _ = decode_request(&f[4..4 + end]);
        }
    }
}
