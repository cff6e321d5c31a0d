#!/usr/bin/env bash
# Install Debian's chromium for the browser tests (tests/test_browser.py), when it is missing.
# Playwright itself comes from PyPI with the test extra and drives this binary through
# executable_path; it never downloads a browser of its own (no `playwright install`).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium >/dev/null
command -v chromium
