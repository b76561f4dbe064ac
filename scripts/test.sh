#!/usr/bin/env bash
# The test command (README line 2): Rust unit and integration tests, then the official
# Alibaba SDK tests (Python, V1 and V3 signatures) against a real `slb serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

# 1. Rust: unit tests beside the code, integration tests that start real daemons.
cargo build --locked -p slb
cargo test --locked --workspace

# 2. The official SDKs, pinned, in a private virtual environment.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r tests/sdk/requirements.txt
SLB_BIN="$PWD/target/debug/slb" .venv/bin/python -m pytest -q tests/sdk
