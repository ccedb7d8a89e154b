#!/usr/bin/env bash
# Quick start: install the tap and Meltano, start the local vendor sandbox (unless you pass
# MELTANO_ENVIRONMENT=dev with real credentials), run the main job into an embedded DuckDB
# warehouse, and print every table with its row count. The sandbox listens on SANDBOX_PORT
# (default 8765): `SANDBOX_PORT=9000 bash scripts/demo.sh` when 8765 is taken. meltano.yml's
# sandbox environment reads the same variable.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
ENVIRONMENT=${MELTANO_ENVIRONMENT:-sandbox}
export SANDBOX_PORT=${SANDBOX_PORT:-8765}

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e . 'meltano==4.4.1'
export PATH="$PWD/.venv/bin:$PATH"

if [ "$ENVIRONMENT" = "sandbox" ]; then
  python -m sandbox --port "$SANDBOX_PORT" > .meltano-sandbox.log 2>&1 &
  SANDBOX_PID=$!
  trap 'kill "$SANDBOX_PID" 2>/dev/null || true' EXIT
  for _ in $(seq 1 50); do
    grep -q "listening" .meltano-sandbox.log 2>/dev/null && break
    sleep 0.2
  done
  grep -q "listening" .meltano-sandbox.log || { cat .meltano-sandbox.log; exit 1; }
fi

mkdir -p output
meltano install
meltano --environment="$ENVIRONMENT" run tap-chatbot-reports target-duckdb
.meltano/loaders/target-duckdb/venv/bin/python scripts/show_tables.py output/warehouse.duckdb
