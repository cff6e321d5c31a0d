from __future__ import annotations

import json
from pathlib import Path

import pytest

from mock_op_auth import load_default, load_fixtures
from mock_op_auth.errors import FixtureError

MINIMAL = """
clients:
  app:
    secret: s
    grant_types: [client_credentials]
    scopes: [read]
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(*paths: Path) -> list[str]:
    with pytest.raises(FixtureError) as info:
        load_fixtures(*paths)
    return [str(p) for p in info.value.problems]


def test_default_fixture_has_the_documented_clients_users_and_scenarios() -> None:
    config = load_default()
    assert config.clients["demo-client"].secret == "demo-secret"
    assert config.clients["demo-public"].is_public and config.clients["demo-public"].require_pkce
    assert {"alice", "bob"} <= set(config.users)
    assert {"token-outage", "consent-pending", "login-denied"} <= set(config.scenarios)
    route = next(r for r in config.resources if r.path == "/accounts/v3/accounts")
    assert route.scopes == ["accounts"] and route.api_key


def test_yaml_and_json_load_alike(tmp_path: Path) -> None:
    import yaml

    data = yaml.safe_load(MINIMAL)
    from_yaml = load_fixtures(write(tmp_path, "a.yaml", MINIMAL))
    from_json = load_fixtures(write(tmp_path, "b.json", json.dumps(data)))
    assert from_yaml == from_json


def test_a_directory_is_merged(tmp_path: Path) -> None:
    write(tmp_path, "clients.yaml", MINIMAL)
    write(tmp_path, "users.yml", "users:\n  carol: {claims: {name: Carol}}\n")
    config = load_fixtures(tmp_path)
    assert set(config.clients) == {"app"} and set(config.users) == {"carol"}


def test_a_duplicate_id_across_files_names_both_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", MINIMAL)
    write(tmp_path, "b.yaml", MINIMAL)
    [problem] = problems(tmp_path)
    assert "b.yaml: clients.app: duplicate id" in problem and "a.yaml" in problem


def test_unknown_key_is_refused_with_its_path(tmp_path: Path) -> None:
    path = write(tmp_path, "f.yaml", MINIMAL + "    secrett: typo\n")
    [problem] = problems(path)
    assert "f.yaml: clients.app.secrett:" in problem


def test_wrong_type_is_refused_with_its_path(tmp_path: Path) -> None:
    path = write(tmp_path, "f.yaml", "server:\n  access_token_ttl: soon\n")
    [problem] = problems(path)
    assert "server.access_token_ttl" in problem


def test_dangling_references_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "f.yaml", MINIMAL + """    scenario: missing
resources:
  - {path: /x, methods: [GET], scopes: [write]}
""")
    found = problems(path)
    assert any("clients.app.scenario: unknown scenario 'missing'" in p for p in found)
    assert any("resources.0.scopes: no client can be granted scope 'write'" in p for p in found)


@pytest.mark.parametrize("text", ["{not yaml: [", "- a list\n- at the top\n", "clients: 3\n", "bogus: {}\n"])
def test_broken_files_are_refused_cleanly(tmp_path: Path, text: str) -> None:
    assert problems(write(tmp_path, "f.yaml", text))


def test_broken_json_is_refused(tmp_path: Path) -> None:
    [problem] = problems(write(tmp_path, "f.json", "{"))
    assert "not valid JSON" in problem


@pytest.mark.parametrize(("name", "text", "why"), [
    ("nan.yaml", "users:\n  u: {claims: {score: .nan}}\n", "nan is not a JSON number"),
    ("inf.yaml", "scenarios:\n  s: {rules: [{match: {endpoint: token}, token: {claims: {exp: .inf}}}]}\n",
     "inf is not a JSON number"),
    ("surrogate.yaml", 'users:\n  u: {claims: {name: "\\ud800"}}\n', "invalid Unicode"),  # PyYAML's own
    ("surrogate.json", '{"users": {"u": {"claims": {"name": "\\ud800"}}}}', "lone surrogate"),
    ("big.json", '{"users": {"u": {"claims": {"n": 1e400}}}}', "too large"),
    ("nan.json", '{"users": {"u": {"claims": {"n": NaN}}}}', "NaN is not a JSON number"),
])
def test_values_no_response_could_carry_are_refused(tmp_path: Path, name: str, text: str, why: str) -> None:
    """A fixture is written back as JSON (userinfo, token claims, a rule's answer): what cannot
    be is refused at load, with the section it sits in, not met as a 500 at the first request."""
    [problem] = problems(write(tmp_path, name, text))
    assert why in problem and name in problem


@pytest.mark.parametrize(("name", "text", "twice"), [
    ("clients.yaml", MINIMAL + "  app:\n    secret: t\n    grant_types: [client_credentials]\n", "app"),
    ("server.yaml", "server: {code_ttl: 30}\nserver: {code_ttl: 60}\n", "server"),
    ("clients.json", '{"clients": {"app": {"secret": "s"}, "app": {"secret": "t"}}}', "app"),
])
def test_a_key_given_twice_in_one_file_is_refused(tmp_path: Path, name: str, text: str, twice: str) -> None:
    """YAML and JSON parsers keep the last of two equal keys: the first client would vanish unseen."""
    [problem] = problems(write(tmp_path, name, text))
    assert f"duplicate key '{twice}'" in problem


def test_yaml_merge_keys_may_still_be_overridden(tmp_path: Path) -> None:
    text = MINIMAL + "  other:\n    <<: &base {secret: s, grant_types: [client_credentials], scopes: [read]}\n" \
                     "    secret: other-secret\n"
    assert load_fixtures(write(tmp_path, "merge.yaml", text)).clients["other"].secret == "other-secret"


@pytest.mark.parametrize("uri", ["javascript://x%0aalert(1)", "data://text/html,x", "file:///etc/passwd",
                                 "http://a.example/cb#frag", "relative/cb"])
def test_a_redirect_uri_no_browser_should_be_sent_to_is_refused(tmp_path: Path, uri: str) -> None:
    text = ("clients:\n  app:\n    secret: s\n    grant_types: [authorization_code]\n    scopes: [read]\n"
            f"    redirect_uris: ['{uri}']\n    post_logout_redirect_uris: ['{uri}']\n")
    found = problems(write(tmp_path, "f.yaml", text))
    assert any("clients.app.redirect_uris" in p for p in found) and any("post_logout" in p for p in found)


def test_a_native_apps_private_use_scheme_is_a_redirect_uri(tmp_path: Path) -> None:
    text = ("clients:\n  app:\n    grant_types: [authorization_code]\n    scopes: [read]\n"
            "    redirect_uris: ['com.example.app://callback']\n")
    assert load_fixtures(write(tmp_path, "f.yaml", text)).clients["app"].redirect_uris == ["com.example.app://callback"]


def test_missing_path_is_refused(tmp_path: Path) -> None:
    [problem] = problems(tmp_path / "absent.yaml")
    assert "no such file" in problem


def test_code_client_needs_redirect_uris(tmp_path: Path) -> None:
    path = write(tmp_path, "f.yaml", "clients:\n  web: {secret: s, grant_types: [authorization_code]}\n")
    [problem] = problems(path)
    assert "clients.web" in problem and "redirect_uris" in problem


def test_jwks_file_is_read_relative_to_the_fixture(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "tpp.json").write_text(json.dumps({"keys": [{"kty": "EC", "kid": "k1"}]}))
    path = write(tmp_path, "f.yaml", MINIMAL + "    jwks_file: keys/tpp.json\n")
    assert load_fixtures(path).clients["app"].jwks == {"keys": [{"kty": "EC", "kid": "k1"}]}


def test_unreadable_jwks_file_is_a_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "f.yaml", MINIMAL + "    jwks_file: nope.json\n")
    [problem] = problems(path)
    assert "clients.app.jwks_file" in problem
