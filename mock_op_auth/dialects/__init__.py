"""Wire formats: one module per dialect, all sharing the core (see ``base.Dialect``)."""

from mock_op_auth.dialects.base import Dialect
from mock_op_auth.dialects.rfc import RfcDialect

DIALECTS: dict[str, Dialect] = {"rfc": RfcDialect()}

__all__ = ["DIALECTS", "Dialect", "RfcDialect"]
