"""Automated accessibility checks for any page state: axe-core, text contrast and reflow.

`assert_no_axe_violations(page, state="…")` is the one line a test adds to check what the page
shows now. axe-core comes bundled in the axe-playwright-python wheel (nothing is downloaded at
run time) and is injected with `page.evaluate`, which Playwright runs through the DevTools
protocol: the page's own `script-src 'self'` CSP does not apply to it, so the tests keep the
production CSP in force (no `bypass_csp`), and the page fixture still fails a test on any CSP
violation."""

from __future__ import annotations

from typing import Any

from axe_playwright_python.base import AXE_SCRIPT

# WCAG 2.0 and 2.1, levels A and AA, plus axe's best practices (landmarks, heading order, empty
# table headers), which catch real problems on this page at no cost in false alarms.
AXE_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice")

_RUN = """([context, tags]) => axe.run(context ?? document, {
  runOnly: {type: 'tag', values: tags}, resultTypes: ['violations'],
}).then((results) => results.violations)"""


def axe_violations(page: Any, context: str | None = None) -> list[dict[str, Any]]:
    """axe-core's violations for the page, or only inside the CSS selector `context`."""
    # Injected once per document (a navigation or reload drops it).
    if not page.evaluate("() => typeof window.axe?.run === 'function'"):
        page.evaluate(AXE_SCRIPT)
    violations: list[dict[str, Any]] = page.evaluate(_RUN, [context, list(AXE_TAGS)])
    return violations


def describe_violations(violations: list[dict[str, Any]], state: str) -> str:
    """One block per rule: id, impact, what it asks, and each failing element's selector."""
    lines = [f"{state}: {len(violations)} axe-core rule(s) failed"]
    for violation in violations:
        lines.append(
            f"  {violation['id']} ({violation['impact']}): {violation['help']} "
            f"[{', '.join(t for t in violation['tags'] if t.startswith(('wcag', 'best')))}]"
        )
        for node in violation["nodes"][:10]:
            summary = " ".join((node.get("failureSummary") or "").split())
            lines.append(f"    {' > '.join(map(str, node['target']))}: {summary[:300]}")
        if len(violation["nodes"]) > 10:
            lines.append(f"    … and {len(violation['nodes']) - 10} more elements")
    return "\n".join(lines)


def assert_no_axe_violations(page: Any, context: str | None = None, *, state: str = "") -> None:
    """Fail with a readable list (rule id, impact, target selectors) when axe-core finds any
    WCAG 2.1 A/AA or best-practice violation in what the page shows now."""
    violations = axe_violations(page, context)
    assert not violations, describe_violations(violations, state or page.url)


# WCAG 1.4.3 contrast of every visible text (HTML and SVG) against the background it sits on,
# with the opacity of the element and its ancestors applied. axe-core covers HTML text but leaves
# SVG text (the chart's axes) "incomplete", so this check stays beside it.
_CONTRAST = """() => {
  const parse = (c) => {
    const m = /rgba?\\(([^)]+)\\)/.exec(c || '');
    if (!m) return null;
    const [r, g, b, a = 1] = m[1].split(/[\\s,/]+/).filter(Boolean).map(Number);
    return {r, g, b, a};
  };
  const channel = (v) => {
    v /= 255;
    return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  const luminance = (c) => 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  const background = (el) => {
    for (let n = el; n; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c && c.a > 0) return c;
    }
    return {r: 255, g: 255, b: 255, a: 1};
  };
  const opacity = (el) => {
    let product = 1;
    for (let n = el; n; n = n.parentElement) product *= Number(getComputedStyle(n).opacity);
    return product;
  };
  const failures = [];
  let checked = 0;
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!walker.currentNode.textContent.trim() || seen.has(el)) continue;
    seen.add(el);
    if (el.closest('option, title, desc, .visually-hidden, :disabled, [hidden]')) continue;
    const box = el.getBoundingClientRect();
    if (box.width < 2 || box.height < 2) continue;
    if (!el.checkVisibility({opacityProperty: true, visibilityProperty: true})) continue;
    const style = getComputedStyle(el);
    const fg = parse(el instanceof SVGElement ? style.fill : style.color);
    if (!fg) continue;
    const bg = background(el);
    const alpha = fg.a * opacity(el);
    const shown = {r: 0, g: 0, b: 0};
    for (const k of ['r', 'g', 'b']) shown[k] = alpha * fg[k] + (1 - alpha) * bg[k];
    const [hi, lo] = [luminance(shown), luminance(bg)].sort((x, y) => y - x);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    checked += 1;
    if (ratio < (large ? 3 : 4.5)) {
      failures.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className?.baseVal ?? el.className} `
        + `"${el.textContent.trim().slice(0, 40)}": ${ratio.toFixed(2)}`);
    }
  }
  return {checked, failures};
}"""

# WCAG 1.4.10 reflow: elements sticking out to the right of the viewport, outside any box that
# scrolls or clips them.
_OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const clipped = (el) => {
    for (let n = el.parentElement; n; n = n.parentElement) {
      if (['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(n).overflowX)) return true;
    }
    return false;
  };
  const wide = [...document.querySelectorAll('body *')].filter((el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.right > width + 1 && !clipped(el) && !el.closest('.visually-hidden');
  }).map((el) => `${el.tagName.toLowerCase()}#${el.id}.${el.className?.baseVal ?? el.className}`);
  return {scrollWidth: document.documentElement.scrollWidth, width, wide: wide.slice(0, 10)};
}"""


def contrast(page: Any) -> dict[str, Any]:
    """{"checked": texts checked, "failures": ["tag#id.class "text": ratio", …]}."""
    result: dict[str, Any] = page.evaluate(_CONTRAST)
    return result


def overflow(page: Any) -> dict[str, Any]:
    """{"scrollWidth", "width", "wide": elements past the right edge}; call at scroll x = 0."""
    result: dict[str, Any] = page.evaluate(_OVERFLOW)
    return result
