"""The import rules between layers (DESIGN.md "Layers"), checked on the source with ``ast``.

- ``builder`` imports only the standard library, its few pure dependencies and itself;
- ``runtime`` never imports the web layer (``app``, FastAPI, Starlette, Jinja2);
- among the product packages only ``runtime/store/`` talks to the database drivers;
- nothing imports ``tests`` (except the tests themselves).

Every import counts, including those under ``if TYPE_CHECKING:`` and inside functions.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT_PACKAGES = ("builder", "runtime", "app", "templates_lib")
SKIP_DIRS = {".git", ".venv", "venv", "build", "dist", "node_modules", "__pycache__"}

BUILDER_ALLOWED = {
    "builder",
    "pydantic",
    "pydantic_core",
    "jsonschema",
    # A generated JSON Schema validator, pure Python like jsonschema (builder/schema.py).
    "fastjsonschema",
    "lark",
    "annotated_types",
    "typing_extensions",
} | set(sys.stdlib_module_names)
RUNTIME_FORBIDDEN = {"app", "fastapi", "starlette", "jinja2"}
DATABASE_MODULES = {"sqlalchemy", "alembic", "psycopg", "psycopg2", "sqlite3"}
DATABASE_OWNER = "runtime/store/"


def _python_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if not SKIP_DIRS.intersection(relative.parts) and not relative.parts[0].endswith(
            ".egg-info"
        ):
            yield path


def _module_of(relative: Path) -> str:
    parts = list(relative.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(root: Path, path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute dotted name) of every import in ``path``; relative ones resolved."""
    relative = path.relative_to(root)
    package = _module_of(relative).split(".")
    if relative.name != "__init__.py":
        package = package[:-1]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            if node.module:
                yield node.lineno, ".".join([*base, node.module])
            else:  # from . import x: x is a module of the package
                for alias in node.names:
                    yield node.lineno, ".".join([*base, alias.name])


def _violations(root: Path, path: Path) -> Iterator[str]:
    relative = path.relative_to(root).as_posix()
    top = relative.split("/", 1)[0]
    for line, name in _imports(root, path):
        imported = name.split(".", 1)[0]
        where = f"{relative}:{line}: imports {name}"
        if top == "builder" and imported not in BUILDER_ALLOWED:
            yield f"{where} (builder may import only the stdlib and its pure dependencies)"
        if top == "runtime" and imported in RUNTIME_FORBIDDEN:
            yield f"{where} (runtime must not know the web layer)"
        if (
            top in PRODUCT_PACKAGES
            and imported in DATABASE_MODULES
            and not relative.startswith(DATABASE_OWNER)
        ):
            yield f"{where} (only {DATABASE_OWNER} talks to the database)"
        if top != "tests" and imported == "tests":
            yield f"{where} (nothing imports tests)"


def test_layers_import_only_what_they_may() -> None:
    files = list(_python_files(ROOT))
    assert any(path.match("runtime/store/engine.py") for path in files)  # the walk found the tree
    problems = [problem for path in files for problem in _violations(ROOT, path)]
    assert not problems, "layer rules broken:\n" + "\n".join(problems)


def test_the_check_catches_a_broken_rule(tmp_path: Path) -> None:
    # The rules above are only worth something if a violation is reported; check one of each.
    fake = {
        "builder/bad.py": "import sqlalchemy\nfrom . import ok\nfrom .. import app\n",
        "runtime/bad.py": "from fastapi import FastAPI\nfrom app.config import Settings\n",
        "runtime/pure.py": "from sqlalchemy import select\n",
        "app/bad.py": "import tests.factories\n",
    }
    for name, source in fake.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(source, encoding="utf-8")
    problems = [
        problem for path in _python_files(tmp_path) for problem in _violations(tmp_path, path)
    ]
    assert [problem.split(" (")[0] for problem in problems] == [
        "app/bad.py:1: imports tests.factories",
        "builder/bad.py:1: imports sqlalchemy",  # not a builder dependency
        "builder/bad.py:1: imports sqlalchemy",  # and not runtime/store
        "builder/bad.py:3: imports app",
        "runtime/bad.py:1: imports fastapi",
        "runtime/bad.py:2: imports app.config",
        "runtime/pure.py:1: imports sqlalchemy",
    ]
