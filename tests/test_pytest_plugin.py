"""The pytest plugin, run the way users run it: pytest sessions in a scratch directory (pytester),
with the plugin loaded from its ``pytest11`` entry point and no conftest."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest_plugins = ["pytester"]
QUIET = ("-p", "no:asyncio")  # the scratch sessions need no asyncio plugin (nor its config warnings)

BANK = """
clients:
  bank-client:
    secret: bank-secret
    grant_types: [client_credentials]
    scopes: [accounts]
scenarios:
  bank-down:
    rules:
      - match: {endpoint: token}
        error: {error: temporarily_unavailable, status: 503}
"""


def test_op_auth_is_one_server_per_session_reset_before_each_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import httpx

        URLS = []

        def test_dirty_everything(op_auth):
            URLS.append(op_auth.url)
            op_auth.token()
            op_auth.use_scenario("token-outage")
            op_auth.add_rule(match={"endpoint": "jwks"}, respond={"status": 500})
            op_auth.advance(3600)

        def test_starts_clean(op_auth):
            URLS.append(op_auth.url)
            assert op_auth.requests() == []
            assert httpx.get(op_auth.url + "/_mock/clock").json()["offset"] == 0
            assert httpx.get(op_auth.jwks_url).status_code == 200
            assert op_auth.token()

        def test_same_server(op_auth):
            URLS.append(op_auth.url)
            assert len(set(URLS)) == 1
    """)
    pytester.makeconftest("""
        import threading

        def pytest_unconfigure(config):  # after the session's fixtures are torn down
            print("threads left:", sorted(t.name for t in threading.enumerate() if t is not threading.main_thread()))
    """)
    result = pytester.runpytest(*QUIET, "-s")
    result.assert_outcomes(passed=3)
    assert "threads left: []" in result.stdout.str()  # the session's server stopped with the session


def test_marker_gives_other_fixtures_their_own_cached_server(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", bank=BANK)
    pytester.makepyfile("""
        import pytest
        from mock_op_auth.testing import OpAuthError

        URLS = {}

        def test_default(op_auth):
            URLS["default"] = op_auth.url
            assert op_auth.token("demo-client", "demo-secret")

        @pytest.mark.op_auth(fixtures="bank.yaml")
        def test_bank(op_auth):
            URLS["bank"] = op_auth.url
            assert op_auth.token("bank-client", "bank-secret")
            with pytest.raises(OpAuthError):
                op_auth.token("demo-client", "demo-secret")

        @pytest.mark.op_auth(fixtures="bank.yaml", scenario="bank-down")
        def test_bank_down(op_auth):
            assert op_auth.url == URLS["bank"] != URLS["default"]
            with pytest.raises(OpAuthError, match="503"):
                op_auth.token("bank-client", "bank-secret")

        @pytest.mark.op_auth(fixtures="bank.yaml")
        def test_scenario_of_the_previous_test_is_gone(op_auth):
            assert op_auth.token("bank-client", "bank-secret")
    """)
    pytester.runpytest(*QUIET).assert_outcomes(passed=4)


def test_a_modules_fixtures_and_a_tests_scenario_combine(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", bank=BANK)
    pytester.makepyfile("""
        import pytest
        from mock_op_auth.testing import OpAuthError

        pytestmark = pytest.mark.op_auth(fixtures="bank.yaml")

        @pytest.mark.op_auth(scenario="bank-down")
        def test_the_bank_is_down(op_auth):
            with pytest.raises(OpAuthError, match="503"):
                op_auth.token("bank-client", "bank-secret")

        def test_the_bank_is_up(op_auth):
            assert op_auth.token("bank-client", "bank-secret")
    """)
    pytester.runpytest(*QUIET).assert_outcomes(passed=2)


def test_marker_on_a_class_applies_to_its_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.op_auth(scenario="consent-pending")
        class TestPending:
            def test_token_is_pending(self, op_auth):
                import httpx
                body = httpx.post(op_auth.token_url, data={"grant_type": "client_credentials"},
                                  auth=("demo-client", "demo-secret")).json()
                assert body["status"] == "pending"
    """)
    pytester.runpytest(*QUIET).assert_outcomes(passed=1)


def test_option_sets_the_fixtures_of_unmarked_tests(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", bank=BANK)
    pytester.makepyfile("""
        def test_bank(op_auth):
            assert op_auth.token("bank-client", "bank-secret")
    """)
    pytester.runpytest(*QUIET, "--op-auth-fixtures", "bank.yaml").assert_outcomes(passed=1)
    pytester.runpytest(*QUIET).assert_outcomes(failed=1)


def test_ini_key_sets_the_fixtures_too(pytester: pytest.Pytester) -> None:
    pytester.mkdir("fixtures").joinpath("bank.yaml").write_text(BANK)
    pytester.makeini("[pytest]\nop_auth_fixtures = fixtures/bank.yaml\n")
    pytester.makepyfile("""
        def test_bank(op_auth):
            assert op_auth.token("bank-client", "bank-secret")
    """)
    pytester.runpytest(*QUIET).assert_outcomes(passed=1)


def test_bad_marker_or_unknown_scenario_fails_the_test_with_the_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.op_auth(fixture="typo.yaml")
        def test_typo(op_auth):
            pass

        @pytest.mark.op_auth(scenario="no-such-scenario")
        def test_unknown_scenario(op_auth):
            pass

        @pytest.mark.op_auth(fixtures="missing.yaml")
        def test_missing_file(op_auth):
            pass

        @pytest.mark.op_auth(tls="no")
        def test_tls_not_a_bool(op_auth):
            pass
    """)
    result = pytester.runpytest(*QUIET)
    result.assert_outcomes(errors=4)
    result.stdout.fnmatch_lines(["*takes only the keywords fixtures=, scenario= and tls=*",
                                 "*unknown scenario no-such-scenario*",
                                 "*missing.yaml*no such file or directory*",
                                 "*op_auth(tls=...) takes True or False, got 'no'*"])


def test_plugin_is_registered_by_entry_point(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(*QUIET, "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.op_auth(fixtures=None, scenario=None, tls=False):*"])
    assert "--op-auth-fixtures=PATH" in pytester.runpytest(*QUIET, "--help").stdout.str()


def test_each_xdist_worker_runs_its_own_server(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_workers="""
        import json, os, pathlib

        def test_record(op_auth):
            worker = os.environ["PYTEST_XDIST_WORKER"]
            op_auth.token()
            assert len(op_auth.requests(endpoint="token")) == 1  # nobody else's requests
            pathlib.Path(worker + ".json").write_text(json.dumps({"url": op_auth.url}))
    """)
    result = pytester.runpytest_subprocess(*QUIET, "-n", "2", "--dist", "each")  # no conftest: entry point
    result.assert_outcomes(passed=2)
    urls = {p.stem: json.loads(p.read_text())["url"] for p in pytester.path.glob("gw*.json")}
    assert sorted(urls) == ["gw0", "gw1"]
    assert urls["gw0"] != urls["gw1"]


def test_loading_the_plugin_imports_no_server_code() -> None:
    """Every pytest run in an environment with mock-op-auth loads the plugin: that must cost nothing."""
    probe = ("import sys, mock_op_auth.pytest_plugin; "
             "print([m for m in ('fastapi', 'uvicorn', 'httpx', 'jose', 'yaml') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]"
