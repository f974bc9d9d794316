"""The house rules, read from the source: no import cycle, no GUI in the engine, faces use public names."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("liif_plugin", "napari_plugin")
FACES = ("napari_plugin", "liif_plugin.notebook", "liif_plugin.cli")
GUI = ("qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "napari", "magicgui", "anywidget", "ipywidgets", "superqt")


def modules():
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if "_registry" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


MODULES = modules()


def resolve(name, current, level):
    """The absolute module a `from ... import` names (relative imports resolved)."""
    if level:
        base = current.split(".")
        if not MODULES[current].name == "__init__.py":
            base = base[:-1]
        base = base[: len(base) - (level - 1)]
        return ".".join(base + ([name] if name else []))
    return name


def top_level_imports(name):
    """Modules imported when `name` is imported: its module-level statements (not inside functions,
    not under `if TYPE_CHECKING`)."""
    tree = ast.parse(MODULES[name].read_text())
    found = []

    def visit(stmts):
        for node in stmts:
            if isinstance(node, ast.Import):
                found.extend(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                mod = resolve(node.module, name, node.level)
                for a in node.names:
                    sub = f"{mod}.{a.name}"
                    found.append(sub if sub in MODULES else mod)
            elif isinstance(node, ast.If):
                if "TYPE_CHECKING" not in ast.unparse(node.test):
                    visit(node.body)
                    visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)

    visit(tree.body)
    return found


def graph():
    g = {}
    for name in MODULES:
        deps = set()
        for imp in top_level_imports(name):
            # The module named (the longest of our modules it starts with). Python also runs the
            # parent packages' __init__ on the way; that is how packages work, not a design edge.
            parts = imp.split(".")
            for i in range(len(parts), 0, -1):
                cand = ".".join(parts[:i])
                if cand in MODULES:
                    if cand != name:
                        deps.add(cand)
                    break
        g[name] = deps
    return g


def test_module_level_imports_form_no_cycle():
    g = graph()
    state, stack, cycles = {}, [], []

    def dfs(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(g[n]):
            if state.get(m) == 1:
                cycles.append(stack[stack.index(m) :] + [m])
            elif m not in state:
                dfs(m)
        stack.pop()
        state[n] = 2

    for n in sorted(g):
        if n not in state:
            dfs(n)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("liif_plugin") and not n.startswith(FACES)))
def test_the_engine_imports_no_gui(name):
    gui = [imp for imp in top_level_imports(name) if imp.split(".")[0] in GUI]
    assert not gui, f"{name} imports {gui} at import time"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith(FACES)))
def test_faces_use_public_engine_names_only(name):
    """No `from liif_plugin.x import _private`, no `engine_module._private`."""
    tree = ast.parse(MODULES[name].read_text())
    engine_aliases, bad = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = resolve(node.module, name, node.level)
            if mod.startswith("liif_plugin") and not mod.startswith(FACES):
                for a in node.names:
                    if a.name.startswith("_") and not a.name.endswith("__"):
                        bad.append(f"imports {a.name} from {mod}")
                    if f"{mod}.{a.name}" in MODULES:
                        engine_aliases.add(a.asname or a.name)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("liif_plugin") and not a.name.startswith(FACES):
                    engine_aliases.add(a.asname or a.name.split(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in engine_aliases:
                bad.append(f"reads {ast.unparse(node)}")
    assert not bad, f"{name}: " + "; ".join(bad)


def test_few_modules_at_the_top():
    top = [p for p in (ROOT / "liif_plugin").glob("*.py")]
    subpackages = [p for p in (ROOT / "liif_plugin").iterdir() if (p / "__init__.py").exists()]
    assert len(top) <= 12 and len(subpackages) >= 5, (top, subpackages)
