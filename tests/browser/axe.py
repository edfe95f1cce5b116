"""Accessibility checked by a tool: axe-core (vendored in tests/browser/vendor) run on the current page.

``assert_accessible(page)`` fails on any violation whose impact is "serious" or "critical",
listing each rule id, impact, the target selectors and the rule's help text (and link).
Minor and moderate findings are not failures (they are returned, to look at).

The app's Content-Security-Policy has no inline scripts, so the script is not added as a
<script> tag (the page would refuse it, and the browser fixtures fail on CSP refusals): it is
evaluated through the DevTools protocol (``page.evaluate``), which the CSP does not govern.
"""
from __future__ import annotations

from pathlib import Path

AXE_JS = Path(__file__).parent / "vendor" / "axe.min.js"
FAILING_IMPACTS = ("serious", "critical")
# WCAG 2.x A and AA, and axe's best practices.
RUN_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa",
                                                     "wcag22aa", "best-practice"]},
               "resultTypes": ["violations"]}

_source: str | None = None


def _axe_source() -> str:
    global _source
    if _source is None:
        _source = AXE_JS.read_text(encoding="utf-8")
    return _source


def run_axe(page, context: str | None = None) -> list[dict]:
    """axe's violations on the page as it is now (every impact)."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    result = page.evaluate("([context, options]) => axe.run(context || document, options)",
                           [context, RUN_OPTIONS])
    return result["violations"]


def describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']} <{v['helpUrl']}>")
        for node in v["nodes"]:
            target = " ".join(" >> ".join(t) if isinstance(t, list) else t for t in node["target"])
            lines.append(f"    {target}: {node.get('failureSummary', '').replace(chr(10), ' ')}")
    return "\n".join(lines)


def assert_accessible(page, where: str = "") -> list[dict]:
    """Fail on serious/critical violations; return the minor/moderate ones."""
    violations = run_axe(page)
    bad = [v for v in violations if v["impact"] in FAILING_IMPACTS]
    assert not bad, f"axe: serious/critical violations on {where or page.url}:\n{describe(bad)}"
    return [v for v in violations if v["impact"] not in FAILING_IMPACTS]
