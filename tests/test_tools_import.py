"""Every benchmark and script still imports (nothing else runs them in CI, so they could rot unseen)."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOLS = sorted(p for folder in ("benchmarks", "scripts") for p in (ROOT / folder).glob("*.py"))


@pytest.mark.parametrize("path", TOOLS, ids=[f"{p.parent.name}/{p.name}" for p in TOOLS])
def test_tool_imports_and_has_an_entry_point(path, monkeypatch):
    monkeypatch.syspath_prepend(str(path.parent))  # scripts import their siblings (scripts/_shot.py)
    spec = importlib.util.spec_from_file_location(f"_tool_{path.parent.name}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # importing runs nothing: each guards its work with __main__
    if not path.name.startswith("_"):
        assert callable(getattr(module, "main", None)), f"{path.name} has no main()"
