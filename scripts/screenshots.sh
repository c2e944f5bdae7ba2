#!/usr/bin/env bash
# Refresh the README's screenshots: the real-browser test, on the sample data, saving into docs/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p docs/screenshots
KAKEHASHI_SCREENSHOTS="$PWD/docs/screenshots" exec bash scripts/test.sh -q tests/test_browser.py -k renders_without_error "$@"
