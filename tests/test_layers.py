"""The layers of ``docs/architecture.md`` hold: each package of the core imports only the
layers below it, the local server never the client side, and the core never Streamlit."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "voicelab"

#: What each part of the core may import from the core (itself included).
ALLOWED: dict[str, set[str]] = {
    "protocol": {"protocol"},
    "media": {"media"},
    "upstream": {"upstream", "protocol", "media"},
    "pricing": set(),
    "history": {"history"},
    "observers": {"observers", "protocol", "media", "pricing"},
    "call": {"call", "upstream", "observers", "history", "protocol", "media", "pricing"},
    "hosting": {"hosting", "call", "history"},
    "local": {"local", "protocol", "media"},
    "presets": {"protocol"},
    "code_view": set(),
    "cli": {"local"},
}


def core_imports(path: Path) -> set[str]:
    """The core parts a module imports (``voicelab.X...`` → ``X``), relative imports too."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"{path}: use absolute imports")
            names = [node.module or ""]
            if node.module == "voicelab":
                names = [f"voicelab.{alias.name}" for alias in node.names]
        found |= {n.split(".")[1] for n in names if n.startswith("voicelab.")}
    return found


def part_of(path: Path) -> str:
    relative = path.relative_to(CORE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


MODULES = sorted(p for p in CORE.rglob("*.py") if part_of(p) in ALLOWED)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_part_of_the_core_imports_only_the_layers_below_it(path):
    beyond = core_imports(path) - ALLOWED[part_of(path)]
    assert not beyond, f"{path.relative_to(ROOT)} imports voicelab.{sorted(beyond)}"


def test_every_module_of_the_core_belongs_to_a_layer():
    unplaced = {part_of(p) for p in CORE.rglob("*.py") if part_of(p) not in ALLOWED} - {
        "__init__",
        "__main__",
    }
    assert not unplaced, f"add {sorted(unplaced)} to ALLOWED and docs/architecture.md"


def test_the_local_server_loads_nothing_of_the_client_side():
    """At run time too: importing the server (as ``voicelab serve-local`` does) pulls in no
    module of the call, the transports or the observers."""
    code = (
        "import sys, voicelab.local, voicelab.local.server\n"
        "client = sorted(m for m in sys.modules if m.startswith(('voicelab.call', "
        "'voicelab.upstream', 'voicelab.observers')))\n"
        "assert not client, client"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=ROOT)


def test_core_never_imports_streamlit():
    code = "import sys, pkgutil, importlib, voicelab\n" + (
        "[importlib.import_module(m.name) for m in pkgutil.walk_packages(voicelab.__path__, 'voicelab.')"
        " if m.name != 'voicelab.__main__']\n"
        "assert 'streamlit' not in sys.modules, sorted(m for m in sys.modules if 'streamlit' in m)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=ROOT)
