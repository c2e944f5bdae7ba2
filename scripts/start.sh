#!/usr/bin/env bash
# Install what is needed and start the dashboard on http://127.0.0.1:8501
# (the bundled sample data is loaded automatically into data/kakehashi.duckdb on first start).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh requirements.txt
# Beyond this machine only with sign-in configured (README "Sign-in and roles"): say what to set, exit 2.
address="${KAKEHASHI_ADDRESS:-127.0.0.1}"
previous=""
for arg in "$@"; do      # an address passed on to streamlit counts too
    case "$arg" in --server.address=*) address="${arg#*=}" ;; esac
    [ "$previous" = "--server.address" ] && address="$arg"
    previous="$arg"
done
.venv/bin/python - "$address" <<'PY' || exit 2
import sys
from pipelines.store.access import serving_problems
problems = serving_problems(sys.argv[1])
for problem in problems:
    print(f"kakehashi: {problem}", file=sys.stderr)
sys.exit(2 if problems else 0)
PY
exec .venv/bin/streamlit run app.py --server.address "$address" \
    --server.port "${KAKEHASHI_PORT:-8501}" --server.headless true "$@"
