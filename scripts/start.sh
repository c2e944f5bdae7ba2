#!/usr/bin/env bash
# Install what is needed and start the dashboard on http://127.0.0.1:8501
# (the bundled sample data is loaded automatically into data/kakehashi.duckdb on first start).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh requirements.txt
exec .venv/bin/streamlit run app.py --server.address "${KAKEHASHI_ADDRESS:-127.0.0.1}" \
    --server.port "${KAKEHASHI_PORT:-8501}" --server.headless true "$@"
