"""OP's PSD2 profile (op-auth.md §4): intents, client-signed JWTs and request objects, the
authorization endpoint with its explicit reject step, the jwt-bearer exemption grant, TPP
registration, and the token-path rules that link grants to intents."""
