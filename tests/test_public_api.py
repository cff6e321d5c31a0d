"""The public surface: what ``import mock_op_auth`` and ``mock_op_auth.testing`` promise. It is
built lazily (PEP 562), so a name could drift away from its home unnoticed; this pins it."""

from __future__ import annotations

import subprocess
import sys

import mock_op_auth
import mock_op_auth.testing


def test_the_package_exports_exactly_its_public_names() -> None:
    assert sorted(mock_op_auth.__all__) == ["Config", "Settings", "__version__", "create_app", "load_default",
                                            "load_fixtures"]


def test_every_public_name_resolves_to_the_thing_it_names() -> None:
    from mock_op_auth.app import create_app
    from mock_op_auth.config.loader import load_default, load_fixtures
    from mock_op_auth.config.schema import Config
    from mock_op_auth.settings import Settings

    assert mock_op_auth.create_app is create_app
    assert mock_op_auth.Config is Config
    assert mock_op_auth.load_default is load_default
    assert mock_op_auth.load_fixtures is load_fixtures
    assert mock_op_auth.Settings is Settings
    assert isinstance(mock_op_auth.__version__, str)


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        mock_op_auth.no_such_name  # noqa: B018
    except AttributeError as err:
        assert "no_such_name" in str(err)
    else:
        raise AssertionError("an unknown name resolved")


def test_the_testing_module_exports_its_helpers() -> None:
    assert sorted(mock_op_auth.testing.__all__) == ["LiveServer", "OpAuth", "OpAuthError", "run_server"]
    for name in mock_op_auth.testing.__all__:
        assert getattr(mock_op_auth.testing, name) is not None


def test_importing_the_package_does_not_load_the_web_framework() -> None:
    code = "import sys, mock_op_auth; assert 'fastapi' not in sys.modules, 'fastapi was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
