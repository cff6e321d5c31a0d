"""The control plane under ``/_mock``: the API a test in any language steers the mock with, the
dashboard, and what they share (the admin check, journaling of control calls, minting, key
rotation, live tokens). It may use every service; no service imports it."""
