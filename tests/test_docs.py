"""The documentation's shell examples run exactly as written against a live server.

Every ```sh block in README.md and docs/*.md that talks to http://127.0.0.1:8080 is run, in
order, as one bash script per file, against a fresh `mock-op-auth serve` (the port rewritten
to a free one). A file may say how its server is started with a line
``<!-- serve: --fixtures fixtures/x.yaml -->``, and what the output must contain with lines
``<!-- expect: TEXT -->``; a block right after ``<!-- no-test -->`` is skipped.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cli import CLI, free_port, wait_ready

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(<!-- no-test -->\s*)?```sh\n(.*?)```", re.S)
SERVE = re.compile(r"<!-- serve: (.*?) -->")
EXPECT = re.compile(r"<!-- expect: (.*?) -->")


def scripts(path: Path) -> list[str]:
    text = path.read_text()
    return [body for skip, body in BLOCK.findall(text) if not skip and "127.0.0.1:8080" in body]


@pytest.mark.parametrize("doc", [d for d in DOCS if scripts(d)], ids=lambda d: d.name)
def test_shell_examples_run_as_written(doc: Path, tmp_path: Path) -> None:
    port = free_port()
    serve = SERVE.search(doc.read_text())
    extra = shlex.split(serve.group(1)) if serve else []
    script = "\n".join(scripts(doc)).replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    script = script.replace("mock-op-auth ", f"{shlex.quote(sys.executable)} -m mock_op_auth ")
    url = f"http://127.0.0.1:{port}"
    with subprocess.Popen([*CLI, "serve", "--port", str(port), "--log-level", "warning", *extra], cwd=ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as proc:
        try:
            wait_ready(url, proc)
            result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, capture_output=True,
                                    text=True, timeout=120, env={**os.environ, "PATH": f"{Path(sys.executable).parent}:"
                                                                 f"{os.environ.get('PATH', '')}"})
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    assert result.returncode == 0, f"{doc.name} examples failed:\n{result.stdout}\n{result.stderr}"
    for expected in EXPECT.findall(doc.read_text()):
        assert expected in result.stdout, f"{doc.name}: {expected!r} not in the output:\n{result.stdout}"
