"""mock-op-auth: a scenario-driven mock of OP's OAuth 2.0 / OpenID Connect authorization server."""

__version__ = "0.1.0"

from mock_op_auth.app import create_app
from mock_op_auth.config import Config, load_default, load_fixtures
from mock_op_auth.settings import Settings

__all__ = ["Config", "Settings", "__version__", "create_app", "load_default", "load_fixtures"]
