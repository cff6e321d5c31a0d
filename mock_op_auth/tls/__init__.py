"""HTTPS and mutual TLS (DESIGN §7), self-contained: nothing here imports the rest of mock_op_auth.

- ``certs``: the local CA, the server certificate, client certificates, the RFC 8705
  thumbprint and certificates forwarded by a TLS-terminating proxy (``cryptography`` only).
- ``names``: RFC 4514 subject names, parsed, written and compared.
- ``serving``: the server ``SSLContext``, the uvicorn protocol classes that put the ASGI TLS
  extension into each request's scope, and ``peer_certificate(scope)`` for the app side.
"""
