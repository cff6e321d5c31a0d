#!/bin/sh
# Build the mock's wheel into $1 (default: dist). The Dockerfile's build stage runs exactly this,
# and tests/test_docker.py runs it too, so the image and the test cannot drift apart.
set -eu
out="${1:-dist}"
"${PYTHON:-python}" -m pip wheel --no-deps --disable-pip-version-check --wheel-dir "$out" .
