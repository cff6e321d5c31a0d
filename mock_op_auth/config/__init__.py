"""Fixture schema and loading."""

from mock_op_auth.config.loader import load_default, load_fixtures
from mock_op_auth.config.schema import Config

__all__ = ["Config", "load_default", "load_fixtures"]
