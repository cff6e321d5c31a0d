"""OP's rules on top of ``oauth/``: its API key, and its PSD2 profile (``op/psd2``).

``oauth/`` never imports from here; ``Server`` builds these services and hands them what they need."""
