"""mock-op-auth: a scenario-driven mock of OP's OAuth 2.0 / OpenID Connect authorization server.

The public names are imported on first use (PEP 562), so that importing a submodule — the
pytest plugin every pytest run loads, the CLI's ``check`` and ``healthcheck`` — does not pay
for FastAPI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from mock_op_auth.app import create_app
    from mock_op_auth.config import Config, load_default, load_fixtures
    from mock_op_auth.settings import Settings

__all__ = ["Config", "Settings", "__version__", "create_app", "load_default", "load_fixtures"]

_HOMES = {"create_app": "mock_op_auth.app", "Config": "mock_op_auth.config", "load_default": "mock_op_auth.config",
          "load_fixtures": "mock_op_auth.config", "Settings": "mock_op_auth.settings"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'mock_op_auth' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
