#!/usr/bin/env bash
# Set up everything the demo, tests and benchmarks need, idempotently, on a fresh machine:
# a virtualenv in .venv with drachtio installed editable, SIPp (Debian package sip-tester),
# and the npm drachtio-srf package used as a real client of our engine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import drachtio, pytest, pytest_asyncio, hypothesis" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.installed ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".[test,bench]"
  touch .venv/.installed
fi

if [ "${1:-}" = "--python-only" ]; then exit 0; fi

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null; then SUDO="sudo"; fi
if ! command -v sipp >/dev/null; then
  echo "setup: installing SIPp (Debian package sip-tester)"
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq sip-tester >/dev/null
fi

if command -v npm >/dev/null && [ -f tests/interop/node/package.json ] \
   && [ ! -d tests/interop/node/node_modules/drachtio-srf ]; then
  echo "setup: installing the npm drachtio-srf package for interop tests"
  (cd tests/interop/node && npm install --no-audit --no-fund --silent)
fi
