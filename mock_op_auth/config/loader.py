"""Read fixture files: one YAML/JSON file or a directory of them, merged into one Config.

Every problem comes back as a FixtureError with the file, the key path and the reason, so
``mock-op-auth check`` and ``--watch`` can say exactly what is wrong; a duplicate id across
files of a directory is an error, never a silent override.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mock_op_auth.config.schema import Config
from mock_op_auth.errors import FixtureError, Problem
from mock_op_auth.json_input import parse_json, value_problem

FIXTURE_SUFFIXES = (".yaml", ".yml", ".json")
MAX_FIXTURE_BYTES = 4 * 1024 * 1024
_MAPPED_SECTIONS = ("clients", "users", "scenarios")
_SECTIONS = ("server", *_MAPPED_SECTIONS, "resources")
# libyaml's safe loader when PyYAML was built with it (same documents, a fifth of the start-up cost)
_BASE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_BASE_LOADER):
    """The safe loader, refusing a key given twice in one mapping: YAML says keys are unique, and
    PyYAML would keep the last silently (a second ``clients: a:`` drops the first client)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = (key_node.tag, key_node.value)
                if key in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key_node.value!r}",
                                                            key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)


def load_default() -> Config:
    """The embedded default fixture shipped inside the package."""
    text = resources.files("mock_op_auth.config").joinpath("default.yaml").read_text("utf-8")
    return _validate({"<default>": _parse("<default>", text)}, base_dirs={"<default>": None})


def load_document(data: Any, name: str = "<fixtures>") -> Config:
    """A fixture given as data (a namespace's ``fixtures``, say); FixtureError as for a file.
    File references (``jwks_file``) have no folder to be relative to and are refused."""
    if not isinstance(data, dict):
        raise FixtureError([Problem(name, "", "the top level must be a mapping")])
    clients = data.get("clients")
    if isinstance(clients, dict):
        files = [Problem(name, f"clients.{cid}.jwks_file", "no files here: give the JWKS inline as jwks")
                 for cid, client in clients.items() if isinstance(client, dict) and client.get("jwks_file") is not None]
        if files:
            raise FixtureError(files)
    return _validate({name: data}, base_dirs={name: None})


def load_fixtures(*paths: str | Path) -> Config:
    """Load and merge fixture files or directories; raise FixtureError listing every problem."""
    files: list[Path] = []
    problems: list[Problem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in FIXTURE_SUFFIXES and p.is_file())
            if not found:
                problems.append(Problem(str(path), "", "the directory holds no .yaml, .yml or .json file"))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            problems.append(Problem(str(path), "", "no such file or directory"))
    documents: dict[str, dict[str, Any]] = {}
    for file in files:
        try:
            documents[str(file)] = _parse(str(file), _read(file))
        except FixtureError as err:
            problems.extend(err.problems)
    if problems:
        raise FixtureError(problems)
    return _validate(documents, base_dirs={str(f): f.parent for f in files})


def _read(file: Path) -> str:
    try:
        if file.stat().st_size > MAX_FIXTURE_BYTES:
            raise FixtureError([Problem(str(file), "", f"larger than {MAX_FIXTURE_BYTES} bytes")])
        return file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise FixtureError([Problem(str(file), "", f"cannot be read: {err}")]) from None


def _parse(name: str, text: str) -> dict[str, Any]:
    try:
        if name.endswith(".json"):
            data = parse_json(text, unique_keys=True)
        else:
            data = yaml.load(text, Loader=_UniqueKeyLoader)
    except (ValueError, yaml.YAMLError) as err:
        raise FixtureError([Problem(name, "", f"not valid {'JSON' if name.endswith('.json') else 'YAML'}: "
                                              f"{_one_line(str(err))}")]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FixtureError([Problem(name, "", "the top level must be a mapping")])
    return data


def _validate(documents: dict[str, dict[str, Any]], base_dirs: dict[str, Path | None]) -> Config:
    problems: list[Problem] = []
    merged: dict[str, Any] = {"resources": []}
    owner: dict[tuple[str, str], str] = {}
    for name, data in documents.items():
        for key, value in data.items():
            if key not in _SECTIONS:
                problems.append(Problem(name, key, f"unknown section (expected one of {', '.join(_SECTIONS)})"))
            elif problem := value_problem(value):  # .nan, .inf, "\ud800": nothing a response could carry
                problems.append(Problem(name, key, problem))
            elif key == "resources":
                if not isinstance(value, list):
                    problems.append(Problem(name, key, "must be a list"))
                else:
                    merged["resources"].extend(value)
                    owner.update({("resources", str(i)): name for i in range(len(merged["resources"]))})
            elif not isinstance(value, dict):
                problems.append(Problem(name, key, "must be a mapping"))
            elif key == "server":
                if "server" in merged:
                    problems.append(Problem(name, key, f"already given in {owner[('server', '')]}"))
                merged["server"], owner[("server", "")] = value, name
            else:
                section = merged.setdefault(key, {})
                for item_id, item in value.items():
                    if item_id in section:
                        problems.append(Problem(name, f"{key}.{item_id}",
                                                f"duplicate id, already defined in {owner[(key, str(item_id))]}"))
                        continue
                    section[item_id] = _resolve_files(key, item_id, item, base_dirs[name], name, problems)
                    owner[(key, str(item_id))] = name
    if problems:
        raise FixtureError(problems)
    try:
        return Config.model_validate(merged)
    except ValidationError as err:
        for e in err.errors(include_url=False):
            loc = tuple(str(p) for p in e["loc"])
            message = e["msg"].removeprefix("Value error, ")
            if loc:
                problems.append(Problem(_file_of(loc, owner, documents), ".".join(loc), _one_line(message)))
                continue
            for line in message.split("\n"):  # Config's cross-references: "location: reason" per line
                where, _, reason = line.partition(": ")
                problems.append(Problem(_file_of(tuple(where.split(".")), owner, documents), where, reason))
        raise FixtureError(problems) from None


def _resolve_files(section: str, item_id: str, item: Any, base: Path | None, name: str, problems: list[Problem]) -> Any:
    """Inline a client's ``jwks_file`` (relative to its fixture file) as ``jwks``."""
    if section != "clients" or not isinstance(item, dict) or "jwks_file" not in item:
        return item
    item = dict(item)
    ref = item.pop("jwks_file")
    path = Path(str(ref)) if base is None else base / str(ref)
    try:
        item["jwks"] = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as err:
        problems.append(Problem(name, f"clients.{item_id}.jwks_file", f"cannot read {path}: {_one_line(str(err))}"))
    return item


def _file_of(loc: tuple[str, ...], owner: dict[tuple[str, str], str], documents: dict[str, Any]) -> str:
    """The file a key path came from, so a problem names the file to fix."""
    if len(loc) >= 2 and (loc[0], loc[1]) in owner:
        return owner[(loc[0], loc[1])]
    if loc and (loc[0], "") in owner:
        return owner[(loc[0], "")]
    return next(iter(documents), "<config>") if len(documents) == 1 else ", ".join(documents)


def _one_line(text: str) -> str:
    return " ".join(text.split())
