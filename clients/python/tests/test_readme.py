"""The README's quick start runs as written (with this suite's server address)."""

from __future__ import annotations

import re

from .conftest import CLIENT_DIR, Server


def quick_start() -> str:
    readme = (CLIENT_DIR / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def test_quick_start_is_three_lines_that_work(server: Server, make_key) -> None:
    code = quick_start()
    assert len([line for line in code.splitlines() if line.strip()]) == 3
    assert "http://127.0.0.1:8080" in code
    created = make_key(scopes=["data:read"])
    exec(code.replace("http://127.0.0.1:8080", server.url), {"api_key": created["key"]})
