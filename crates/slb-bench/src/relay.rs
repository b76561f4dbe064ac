//! `slb-bench relay`: the least work a user-space TCP proxy hop can do, as a yardstick.
//!
//! A thread per direction of every connection, each a blocking `read` into one buffer and a
//! `write` of what it read: no readiness polling, no configuration, no accounting. What a
//! proxy pinned like it cannot beat on a host is what this moves there, so the benchmark runs
//! it in the proxy's place beside a direct connection: the gap between direct and this relay
//! is the price of any hop through user space on that host, not of one proxy.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::str::FromStr;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use slb_core::proxy_protocol::{self, Transport};

/// Options of `slb-bench relay`.
#[derive(Args, Debug, Clone)]
pub struct RelayArgs {
    /// LISTEN=TARGET[,TARGET...], e.g. 127.0.0.1:28230=127.0.0.1:28201 (repeatable); the
    /// connections take the targets in turn, as a proxy's round robin would.
    #[arg(long = "route")]
    pub routes: Vec<Route>,
    /// Like --route, the backend connections starting with a PROXY protocol v2 header.
    #[arg(long = "route-proxy-v2")]
    pub proxy_v2_routes: Vec<Route>,
    /// Copy buffer of each direction, bytes (OpenSLB's TCP relay uses 32 KiB).
    #[arg(long, default_value_t = 32 * 1024)]
    pub buf: usize,
    /// Seconds to serve before exiting, so that a forgotten relay ends by itself.
    #[arg(long, default_value_t = 3600)]
    pub secs: u64,
}

/// One listening address and where its connections go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub listen: SocketAddr,
    pub targets: Vec<SocketAddr>,
}

impl FromStr for Route {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (listen, targets) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?}: expected LISTEN=TARGET[,TARGET...]"))?;
        let addr = |a: &str| {
            a.parse::<SocketAddr>()
                .map_err(|e| format!("{a:?}: {e} (expected HOST:PORT)"))
        };
        Ok(Route {
            listen: addr(listen)?,
            targets: targets.split(',').map(addr).collect::<Result<_, _>>()?,
        })
    }
}

/// Binds every route and serves it on its own accept thread; returns the bound addresses
/// (a route on port 0 gets an ephemeral one) in the order given, plain routes first.
pub fn start(args: &RelayArgs) -> Result<Vec<SocketAddr>> {
    let routes = args.routes.iter().map(|r| (r, false));
    let proxy_v2 = args.proxy_v2_routes.iter().map(|r| (r, true));
    let mut bound = Vec::new();
    for (route, send_proxy_v2) in routes.chain(proxy_v2) {
        let listener =
            TcpListener::bind(route.listen).with_context(|| format!("bind {}", route.listen))?;
        bound.push(listener.local_addr()?);
        let (targets, buf) = (route.targets.clone(), args.buf);
        thread::Builder::new()
            .name(format!("accept-{}", route.listen.port()))
            .spawn(move || accept_loop(listener, targets, send_proxy_v2, buf))?;
    }
    Ok(bound)
}

/// `slb-bench relay`: serves the routes for `--secs`, then exits.
pub fn run(args: RelayArgs) -> Result<()> {
    anyhow::ensure!(
        !(args.routes.is_empty() && args.proxy_v2_routes.is_empty()),
        "give at least one --route or --route-proxy-v2"
    );
    anyhow::ensure!(args.buf > 0, "--buf must be at least 1 byte");
    for addr in start(&args)? {
        println!("relay listening on {addr}");
    }
    thread::sleep(Duration::from_secs(args.secs));
    Ok(())
}

fn accept_loop(listener: TcpListener, targets: Vec<SocketAddr>, send_proxy_v2: bool, buf: usize) {
    let mut turn = 0;
    for client in listener.incoming() {
        // A failed accept (a connection reset in the queue, descriptors exhausted) ends
        // only that connection, as in a proxy.
        let Ok(client) = client else { continue };
        let target = targets[turn % targets.len()];
        turn += 1;
        let _ = thread::Builder::new()
            .name("relay".into())
            .spawn(move || relay(client, target, send_proxy_v2, buf));
    }
}

/// Connects to `target` and copies both ways until each side has closed its half.
fn relay(client: TcpStream, target: SocketAddr, send_proxy_v2: bool, buf: usize) {
    let Ok(mut backend) = TcpStream::connect(target) else {
        return; // dropping `client` closes it, as a proxy does when no backend answers
    };
    let _ = client.set_nodelay(true);
    let _ = backend.set_nodelay(true);
    if send_proxy_v2 {
        let mut header = [0; proxy_protocol::MAX_ENCODED_LEN];
        if let (Ok(source), Ok(destination)) = (client.peer_addr(), client.local_addr()) {
            let len = proxy_protocol::encode(Transport::Stream, source, destination, &mut header);
            if backend.write_all(&header[..len]).is_err() {
                return;
            }
        }
    }
    let (Ok(client_r), Ok(backend_r)) = (client.try_clone(), backend.try_clone()) else {
        return;
    };
    let upstream = thread::Builder::new()
        .name("relay-up".into())
        .spawn(move || copy(client_r, backend, buf));
    copy(backend_r, client, buf);
    if let Ok(upstream) = upstream {
        let _ = upstream.join();
    }
}

/// Moves bytes from `from` to `to` until `from` ends, then passes the end on (half close).
/// An error on either side closes both directions.
fn copy(mut from: TcpStream, mut to: TcpStream, buf: usize) {
    let mut buf = vec![0; buf];
    let result = (|| -> io::Result<()> {
        loop {
            let n = from.read(&mut buf)?;
            if n == 0 {
                return to.shutdown(Shutdown::Write);
            }
            to.write_all(&buf[..n])?;
        }
    })();
    if result.is_err() {
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proxy_protocol::Header;

    fn args(route: Route, proxy_v2: bool) -> RelayArgs {
        let (routes, proxy_v2_routes) = if proxy_v2 {
            (vec![], vec![route])
        } else {
            (vec![route], vec![])
        };
        RelayArgs {
            routes,
            proxy_v2_routes,
            buf: 1000,
            secs: 10,
        }
    }

    /// A backend that answers every connection by echoing it until the client's half close.
    fn echo_backend(strip_proxy_v2: bool) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let mut conn = conn.unwrap();
                thread::spawn(move || {
                    let mut data = Vec::new();
                    conn.read_to_end(&mut data).unwrap();
                    let body = if strip_proxy_v2 {
                        let (header, used) = proxy_protocol::decode(&data).unwrap().unwrap();
                        let Header::Proxy { source, .. } = header else {
                            panic!("expected a PROXY header, got {header:?}");
                        };
                        let mut reply = format!("{source}\n").into_bytes();
                        reply.extend_from_slice(&data[used..]);
                        reply
                    } else {
                        data
                    };
                    conn.write_all(&body).unwrap();
                });
            }
        });
        addr
    }

    fn round_trip(relay: SocketAddr, payload: &[u8]) -> (SocketAddr, Vec<u8>) {
        let mut client = TcpStream::connect(relay).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let local = client.local_addr().unwrap();
        client.write_all(payload).unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        client.read_to_end(&mut back).unwrap();
        (local, back)
    }

    #[test]
    fn bytes_and_half_close_cross_in_both_directions() {
        let listen = "127.0.0.1:0".parse().unwrap();
        let route = Route {
            listen,
            targets: vec![echo_backend(false)],
        };
        let relay = start(&args(route, false)).unwrap()[0];
        // Larger than the buffer and the socket buffers, so that both copies loop.
        let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let (_, back) = round_trip(relay, &payload);
        assert_eq!(back.len(), payload.len());
        assert!(back == payload, "the echo came back changed");
    }

    #[test]
    fn proxy_v2_routes_announce_the_client() {
        let route = Route {
            listen: "127.0.0.1:0".parse().unwrap(),
            targets: vec![echo_backend(true)],
        };
        let relay = start(&args(route, true)).unwrap()[0];
        let (client, back) = round_trip(relay, b"hello");
        assert_eq!(String::from_utf8(back).unwrap(), format!("{client}\nhello"));
    }

    #[test]
    fn a_backend_that_refuses_closes_the_client() {
        let refused = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = refused.local_addr().unwrap();
        drop(refused);
        let route = Route {
            listen: "127.0.0.1:0".parse().unwrap(),
            targets: vec![target],
        };
        let relay = start(&args(route, false)).unwrap()[0];
        let mut client = TcpStream::connect(relay).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // Closed without a byte: an end of stream, or a reset (nothing was read from it).
        match client.read(&mut [0; 16]) {
            Ok(n) => assert_eq!(n, 0),
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}"),
        }
    }

    #[test]
    fn connections_take_the_targets_in_turn() {
        let first = echo_backend(true);
        let second = echo_backend(false);
        let route = Route {
            listen: "127.0.0.1:0".parse().unwrap(),
            targets: vec![first, second],
        };
        let relay = start(&args(route, true)).unwrap()[0];
        // The first backend answers with the client's address ahead of the echo, the
        // second echoes the PROXY header itself.
        for _ in 0..2 {
            let (client, back) = round_trip(relay, b"a");
            assert_eq!(back, format!("{client}\na").into_bytes());
            let (_, back) = round_trip(relay, b"b");
            let (_, used) = proxy_protocol::decode(&back).unwrap().unwrap();
            assert_eq!(&back[used..], b"b");
        }
    }

    #[test]
    fn routes_parse_and_bad_ones_say_why() {
        let r: Route = "127.0.0.1:1=127.0.0.1:2".parse().unwrap();
        assert_eq!((r.listen.port(), r.targets[0].port()), (1, 2));
        let r: Route = "127.0.0.1:1=127.0.0.1:2,127.0.0.1:3".parse().unwrap();
        assert_eq!(r.targets.len(), 2);
        assert!(Route::from_str("127.0.0.1:1")
            .unwrap_err()
            .contains("LISTEN=TARGET"));
        assert!(Route::from_str("127.0.0.1:1=127.0.0.1:2,")
            .unwrap_err()
            .contains("HOST:PORT"));
        assert!(Route::from_str("127.0.0.1:1=nowhere")
            .unwrap_err()
            .contains("HOST:PORT"));
    }
}
