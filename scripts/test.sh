#!/usr/bin/env bash
# Install what the tests need (Python packages, Debian's chromium and Japanese fonts) and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh requirements-dev.txt
if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "Installing chromium and fonts-noto-cjk for the browser tests..." >&2
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium fonts-noto-cjk >&2
fi
# The sign-in tests' identity provider (tests/oidc: the oidc-provider package, run by Node) from the npm registry.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "Installing Node.js and npm for the sign-in tests..." >&2
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm >&2
fi
(cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error >&2)
exec .venv/bin/python -m pytest "$@"
