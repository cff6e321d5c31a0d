"""The RFCs and OpenID Connect as plain Python: RFC 6749/6750/7009/7636/7662/9068, OIDC Core and
Discovery. No OP rule (``op/``), no control plane (``control/``), no web framework."""
