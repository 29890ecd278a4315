"""What import-linter cannot say: the core uses asyncio for tasks and queues, never its streams."""

from __future__ import annotations

import ast
from pathlib import Path

import chinwag

CORE = [Path(chinwag.__file__).parent / layer for layer in ("domain", "application")]
STREAM_NAMES = {"open_connection", "start_server", "StreamReader", "StreamWriter", "streams"}


def test_domain_and_application_use_no_asyncio_streams() -> None:
    offenders = []
    for folder in CORE:
        for path in folder.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (isinstance(node, ast.Attribute) and node.attr in STREAM_NAMES) or (
                    isinstance(node, ast.ImportFrom)
                    and (node.module or "").startswith("asyncio")
                    and any(alias.name in STREAM_NAMES for alias in node.names)
                ):
                    offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
