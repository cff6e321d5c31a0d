#!/bin/sh
# The image's entrypoint. With no arguments, or only flags, it serves on all interfaces:
#   mock-op-auth serve --host 0.0.0.0 [flags...]     (a later --host wins)
# Any other first argument is a mock-op-auth command: `docker run IMAGE check /fixtures/bank.yaml`.
set -eu
case "${1:-}" in
  "" | -*) exec mock-op-auth serve --host 0.0.0.0 "$@" ;;
  *) exec mock-op-auth "$@" ;;
esac
