"""The layering the README describes, checked on the source: web → services → domain, views thin."""
from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "directcontracts"
#: What a layer may import from the package (its own modules are always allowed).
ALLOWED = {
    "domain": set(),
    "services": {"domain", "models", "payments", "extensions", "redaction", "config"},
    "web": {"domain", "services", "payments", "htmx", "extensions", "models", "config"},
}
LONGEST_VIEW = 22  # lines, from the decorator-less def to its last line


def _imports(path: Path) -> set[str]:
    """The first-level modules of the package that ``path`` imports, relative or absolute."""
    package = list(path.relative_to(PACKAGE).parts[:-1])  # ["web", "forms"] for web/forms/x.py
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - (node.level - 1)]
            names = node.module.split(".") if node.module else [a.name for a in node.names]
            found.update([base[0]] if base else names[:1] if node.module else names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("directcontracts."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("directcontracts."))
    return found


def test_imports_are_resolved_to_the_layer_they_reach():
    assert {"services", "htmx"} <= _imports(PACKAGE / "web" / "auth.py")
    assert _imports(PACKAGE / "web" / "forms" / "__init__.py") == {"domain", "services"}
    assert _imports(PACKAGE / "domain" / "fees.py") <= {"domain"}


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_what_is_below_it(layer):
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        wrong = _imports(path) - ALLOWED[layer] - {layer}
        assert not wrong, f"{path.relative_to(PACKAGE)} imports {sorted(wrong)}"


def test_domain_knows_nothing_of_flask_or_the_database():
    for path in sorted((PACKAGE / "domain").rglob("*.py")):
        source = path.read_text()
        for name in ("flask", "sqlalchemy", "braintree"):
            assert f"import {name}" not in source and f"from {name}" not in source, f"{path.name} uses {name}"


def test_views_are_thin(app):
    too_long = {}
    for endpoint, view in app.view_functions.items():
        view = inspect.unwrap(view)
        if not view.__module__.startswith("directcontracts.web"):
            continue
        lines, _ = inspect.getsourcelines(view)
        body = [line for line in lines if not line.lstrip().startswith("@")]
        if len(body) > LONGEST_VIEW:
            too_long[endpoint] = len(body)
    assert too_long == {}
