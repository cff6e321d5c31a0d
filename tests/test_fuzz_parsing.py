"""Property tests: form, header and fixture parsing either succeed or refuse cleanly, never crash."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mock_op_auth import create_app
from mock_op_auth.config.loader import load_default, load_fixtures
from mock_op_auth.config.schema import Config
from mock_op_auth.errors import FixtureError, InvalidRequestError
from mock_op_auth.json_input import MAX_JSON_DEPTH, JsonNestingError, parse_json
from mock_op_auth.oauth.request import MAX_PARAMS, Call, parse_pairs

QUICK = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
FORM_CHARS = st.text(st.sampled_from("abc=&%+;:/ _-.0123456789\u00e9\u2603\x00"), max_size=300)


@QUICK
@given(FORM_CHARS)
def test_form_text_parses_into_pairs_or_invalid_request(text: str) -> None:
    try:
        pairs = parse_pairs(text)
    except InvalidRequestError:
        assert text.count("&") + text.count(";") >= MAX_PARAMS
        return
    assert len(pairs) <= MAX_PARAMS
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in pairs)


@QUICK
@given(st.one_of(st.text(max_size=120), st.binary(max_size=90).map(lambda b: "Basic " + base64.b64encode(b).decode()),
                 st.text(max_size=60).map(lambda t: "Basic " + t), st.text(max_size=60).map(lambda t: "Bearer " + t)))
def test_authorization_header_gives_credentials_none_or_invalid_request(value: str) -> None:
    call = Call(method="POST", path="/token", issuer="http://mock.test", headers={"authorization": value})
    try:
        basic = call.basic
    except InvalidRequestError:
        basic = None
    assert basic is None or (isinstance(basic.client_id, str) and isinstance(basic.secret, str))
    assert call.bearer is None or call.bearer.strip() == call.bearer


JSON_TEXT = st.text(st.sampled_from('ab"\\[]{}:,\u00e9\x01/'), max_size=12)
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | JSON_TEXT,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(JSON_TEXT, inner, max_size=3),
                           max_leaves=40)


@QUICK
@given(JSON_VALUES, st.booleans())
def test_json_within_the_nesting_bound_reads_as_json_loads_reads_it(value: Any, ascii_only: bool) -> None:
    """Brackets, quotes and backslashes inside strings never count as nesting."""
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert parse_json(text) == json.loads(text)
    assert parse_json(text.encode("utf-16")) == json.loads(text)


@QUICK
@given(st.text(st.sampled_from('[]{}"\\1:,'), max_size=400))
def test_any_text_reads_as_json_loads_reads_it_or_is_refused_as_too_deep(text: str) -> None:
    try:
        expected: Any = json.loads(text)
    except ValueError:
        expected = ValueError
    try:
        got: Any = parse_json(text)
    except JsonNestingError:
        assert text.count("[") + text.count("{") > MAX_JSON_DEPTH
        return
    except ValueError:
        got = ValueError
    assert got == expected


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return create_app()


def post(app: FastAPI, body: bytes, headers: dict[str, bytes]) -> httpx.Response:
    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as c:
            return await c.post("/token", content=body, headers=headers)

    return asyncio.run(send())


@QUICK
@given(body=st.binary(max_size=400) | FORM_CHARS.map(str.encode),
       content_type=st.sampled_from(["application/x-www-form-urlencoded", "application/json", "text/plain", "",
                                     "application/x-www-form-urlencoded; charset=latin-1"]),
       auth=st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=40))
def test_any_token_request_is_answered_without_a_server_error(app: FastAPI, body: bytes, content_type: str,
                                                              auth: str) -> None:
    headers = {"authorization": auth.strip().encode("latin-1")}
    if content_type:
        headers["content-type"] = content_type.encode()
    response = post(app, body, headers)
    assert response.status_code < 500, response.text
    assert "error" in response.json() or response.status_code == 200


# -- the fixture loader: any YAML or JSON document is a Config or a FixtureError ----------------------

JSON_LEAVES = st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=False) | st.text(max_size=12)
JSON_VALUES = st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
DEFAULT = load_default().model_dump(mode="json", by_alias=True, exclude_none=True)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _paths(item, (*prefix, i))
    return found


PATHS = _paths(DEFAULT)[1:]


@st.composite
def mutated_default(draw: st.DrawFn) -> Any:
    """The default fixture with a few values replaced by arbitrary JSON: near-valid configs."""
    doc = json.loads(json.dumps(DEFAULT))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        target = doc
        try:
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = draw(JSON_VALUES)
        except (KeyError, IndexError, TypeError):
            continue
    return doc


def _load(tmp: Path, name: str, text: str) -> None:
    path = tmp / name
    path.write_text(text, "utf-8")
    try:
        config = load_fixtures(path)
    except FixtureError as err:
        assert err.problems
        assert all(p.reason for p in err.problems)
        return
    assert isinstance(config, Config)


@QUICK
@given(doc=JSON_VALUES | mutated_default(), as_json=st.booleans())
def test_any_fixture_document_is_a_config_or_a_fixture_error(tmp_path_factory: pytest.TempPathFactory, doc: Any,
                                                             as_json: bool) -> None:
    tmp = tmp_path_factory.mktemp("fixture")
    if as_json:
        _load(tmp, "f.json", json.dumps(doc))
    else:
        _load(tmp, "f.yaml", yaml.safe_dump(doc))


@QUICK
@given(st.text(st.sampled_from("ab: -[]{}\n\t'\"&*!|>%@`#,?=0."), max_size=200))
def test_any_yaml_text_is_a_config_or_a_fixture_error(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    _load(tmp_path_factory.mktemp("fixture"), "f.yaml", text)


async def test_non_ascii_basic_credentials_are_invalid_request_not_a_500(client: httpx.AsyncClient) -> None:
    response = await client.post("/token", data={"grant_type": "client_credentials"},
                                 headers={"authorization": "Basic d\u00e9mo".encode("latin-1")})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"

