#!/usr/bin/env bash
# Install the tap with its test dependencies (and Meltano for the end-to-end tests), then run
# lint, type checks and the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test,dagster]' 'meltano==4.4.1'
export PATH="$PWD/.venv/bin:$PATH"

ruff check .
ruff format --check .
mypy
python scripts/sync_docs.py --check
pytest "$@"
