#!/usr/bin/env python3
"""Memory per idle HTTPS keep-alive connection of one running proxy.

    bench/tls_idle.py PORT CONNS PID     # e.g. against `bench/perf.sh up`: OpenSLB 28445, nginx 28443, HAProxy 28444

Opens CONNS TLS connections to 127.0.0.1:PORT (ALPN http/1.1, certificate not checked),
sends one GET on each and reads its response, keeps them all open, and prints the growth
of PID's resident memory divided by CONNS. PID is the process that serves them (nginx: its
worker). Run it pinned away from the proxy (taskset -c 0) with `ulimit -n` above CONNS.
The connections close when the script exits.
"""
import socket
import ssl
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit(f"no VmRSS for pid {pid}")


def main():
    port, conns, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    time.sleep(1)
    before = rss_kib(pid)
    held = []
    for _ in range(conns):
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10))
        s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                raise SystemExit("connection closed before a response")
            head += chunk
        held.append(s)
    time.sleep(3)  # let the proxy settle (buffers given back after the responses)
    after = rss_kib(pid)
    print(f"{conns} idle TLS connections: RSS {before} -> {after} KiB, "
          f"{(after - before) / conns:.2f} KiB per connection")


if __name__ == "__main__":
    main()
