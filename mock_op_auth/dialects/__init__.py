"""Wire formats: one module per dialect, all sharing the core (see ``base.Dialect``)."""

from mock_op_auth.dialects.apigee import ApigeeDialect
from mock_op_auth.dialects.base import Dialect
from mock_op_auth.dialects.psd2 import Psd2Dialect
from mock_op_auth.dialects.rfc import RfcDialect

DIALECTS: dict[str, Dialect] = {"rfc": RfcDialect(), "apigee": ApigeeDialect(), "psd2": Psd2Dialect()}

__all__ = ["DIALECTS", "ApigeeDialect", "Dialect", "Psd2Dialect", "RfcDialect"]
