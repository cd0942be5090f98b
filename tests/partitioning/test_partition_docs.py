"""The Python examples of docs/partitioning.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "partitioning.md"

BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_doc_has_examples() -> None:
    """The page carries its examples."""
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize(
    "source", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))]
)
def test_doc_example(source: str) -> None:
    """Each example runs and its assertions hold."""
    namespace: dict[str, object] = {"__name__": "partition_docs"}
    exec(compile(source, str(DOC), "exec"), namespace)
