#!/bin/sh
# Install the mock from the wheel(s) given as arguments into the Python at $PYTHON (default: python),
# then prove the command starts. The Dockerfile's runtime stage and tests/test_docker.py both run it.
set -eu
py="${PYTHON:-python}"
"$py" -m pip install --disable-pip-version-check "$@"
"$py" -m mock_op_auth --version
