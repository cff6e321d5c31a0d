"""docs/browser-clients.md's Python runs as written: its blocks are read from the file, not copied."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from mock_op_auth.testing import run_server
from tests.test_backchannel_logout import Receiver, rp_config, sign_in

pytest_plugins = ["pytester"]
DOC = Path(__file__).resolve().parents[1] / "docs" / "browser-clients.md"
NAMED_BLOCK = re.compile(r"<!-- file: (?P<name>\S+) -->\n```\w+\n(?P<code>.*?)```", re.DOTALL)


def named_blocks() -> dict[str, str]:
    return {m["name"]: m["code"] for m in NAMED_BLOCK.finditer(DOC.read_text("utf-8"))}


def test_the_pytest_example_passes(pytester: pytest.Pytester) -> None:
    path = pytester.path / "tests" / "test_logout_example.py"
    path.parent.mkdir(parents=True)
    path.write_text(named_blocks()["tests/test_logout_example.py"])
    result = pytester.runpytest("-p", "no:asyncio", "tests")
    result.assert_outcomes(passed=1)


def test_the_receiver_example_verifies_a_real_logout_token() -> None:
    namespace: dict = {}
    exec(named_blocks()["verify_logout_token.py"], namespace)
    receiver = Receiver()
    try:
        with run_server(config=rp_config(receiver.url)) as mock, httpx.Client() as browser:
            tokens = sign_in(mock, browser)
            browser.get(mock.logout_url, params={"id_token_hint": tokens["id_token"]})
            claims = namespace["verify_logout_token"](receiver.received[0]["logout_token"], mock.issuer, "rp")
            assert claims["sub"] == "alice"
    finally:
        receiver.close()
