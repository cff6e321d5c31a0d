"""docs/pytest.md runs as written: its code blocks are read from the file, not copied."""

from __future__ import annotations

import io
import json
import re
import subprocess
import unittest
from pathlib import Path

import httpx
import pytest

from mock_op_auth.testing import run_server

pytest_plugins = ["pytester"]
DOC = Path(__file__).resolve().parents[1] / "docs" / "pytest.md"
NAMED_BLOCK = re.compile(r"<!-- file: (?P<name>\S+) -->\n```\w+\n(?P<code>.*?)```", re.DOTALL)


def named_blocks() -> dict[str, str]:
    return {m["name"]: m["code"] for m in NAMED_BLOCK.finditer(DOC.read_text("utf-8"))}


def test_the_doc_has_the_blocks_these_tests_run() -> None:
    assert sorted(named_blocks()) == ["script.py", "test_unittest_accounts.py", "tests/fixtures/bank.yaml",
                                      "tests/test_accounts.py"]


def test_plugin_example_passes(pytester: pytest.Pytester) -> None:
    blocks = named_blocks()
    for name in ("tests/test_accounts.py", "tests/fixtures/bank.yaml"):
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(blocks[name])
    result = pytester.runpytest("-p", "no:asyncio", "tests")
    result.assert_outcomes(passed=10)


def test_readme_example_passes(pytester: pytest.Pytester) -> None:
    readme = DOC.parents[1] / "README.md"
    blocks = {m["name"]: m["code"] for m in NAMED_BLOCK.finditer(readme.read_text("utf-8"))}
    (pytester.path / "test_readme_example.py").write_text(blocks["tests/test_readme_example.py"])
    result = pytester.runpytest("-p", "no:asyncio")
    result.assert_outcomes(passed=2)


def test_script_example_prints_what_it_promises(capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(named_blocks()["script.py"], str(DOC), "exec"), {"__name__": "__main__"})
    assert capsys.readouterr().out == "200 200\n"


def test_unittest_example_passes() -> None:
    namespace: dict[str, object] = {"__name__": "test_unittest_accounts"}
    exec(compile(named_blocks()["test_unittest_accounts.py"], str(DOC), "exec"), namespace)
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(namespace["AccountsTest"])  # type: ignore[arg-type]
    result = unittest.TextTestRunner(stream=io.StringIO(), verbosity=0).run(suite)
    assert result.wasSuccessful()
    assert result.testsRun == 2


def test_curl_example_mints_an_expired_token() -> None:
    [command] = re.findall(r"```sh\n(curl .*?)\n```", DOC.read_text("utf-8"), re.DOTALL)
    with run_server() as server:
        done = subprocess.run(["bash", "-c", command.replace("http://127.0.0.1:8080", server.url)],
                              capture_output=True, text=True, timeout=30, check=True)
        body = json.loads(done.stdout)
        assert body["token_type"] == "Bearer"
        response = httpx.get(server.url + "/accounts/v3/accounts",
                             headers={"Authorization": f"Bearer {body['access_token']}", "x-api-key": "demo-client"})
        assert response.json()["error_description"] == "the token has expired"
