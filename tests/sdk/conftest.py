"""Fixtures: a real `slb serve` child process and both official SDK clients pointed at it."""

import json
import os
import socket
import subprocess
import tempfile
import time

import pytest

KEY_ID = "LTAIsdktest0000000001"
KEY_SECRET = "sdk-test-secret-000000000000001"
REGION = "local"


@pytest.fixture(scope="session")
def daemon():
    """Starts the daemon on an ephemeral API port and a private loopback address pool."""
    binary = os.environ.get("SLB_BIN") or os.path.join(
        os.path.dirname(__file__), "..", "..", "target", "debug", "slb"
    )
    data_dir = tempfile.mkdtemp(prefix="slb-sdk-")
    env = dict(os.environ, SLB_ACCESS_KEY_ID=KEY_ID, SLB_ACCESS_KEY_SECRET=KEY_SECRET, RUST_LOG="warn")
    proc = subprocess.Popen(
        [binary, "serve", "--data-dir", data_dir, "--api-addr", "127.0.0.1:0",
         "--region", REGION, "--zone", "local-a", "--zone", "local-b",
         "--address-pool", "127.62.0.0/24"],
        env=env,
    )
    addr_file = os.path.join(data_dir, "api.addr")
    deadline = time.time() + 20
    while not os.path.exists(addr_file):
        assert proc.poll() is None, "slb serve exited"
        assert time.time() < deadline, "slb serve did not start"
        time.sleep(0.05)
    time.sleep(0.05)
    with open(addr_file) as f:
        endpoint = f.read().strip()
    yield endpoint
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def v1(daemon):
    """V1 (HMAC-SHA1 signed query): `call(RequestClass, **setters)` returns the parsed JSON."""
    from aliyunsdkcore.client import AcsClient

    client = AcsClient(KEY_ID, KEY_SECRET, REGION)

    def call(request_class, **params):
        req = request_class()
        req.set_endpoint(daemon)
        req.set_protocol_type("http")
        req.set_accept_format("json")
        for name, value in params.items():
            getattr(req, "set_" + name)(value)
        return json.loads(client.do_action_with_exception(req))

    return call


@pytest.fixture(scope="session")
def v3(daemon):
    """V3 (ACS3-HMAC-SHA256 header signature) client from alibabacloud-slb20140515."""
    from alibabacloud_slb20140515.client import Client
    from alibabacloud_tea_openapi import models as open_api_models

    config = open_api_models.Config(
        access_key_id=KEY_ID,
        access_key_secret=KEY_SECRET,
        endpoint=daemon,
        protocol="http",
        region_id=REGION,
    )
    return Client(config)


@pytest.fixture
def backend():
    """A TCP backend on 127.0.0.1 that greets each connection with b'sdk-backend\\n'."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    srv.settimeout(0.2)
    import threading

    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            conn.sendall(b"sdk-backend\n")
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join(timeout=2)
    srv.close()
