"""What every page must pass in the browser: accessibility (axe-core), title and lang, labelled
inputs, no inline script or style, and a Content-Security-Policy the page lives with."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# axe-core ships inside the axe-playwright-python wheel: loaded from disk, never from a CDN.
from axe_playwright_python.sync_playwright import Axe

BLOCKING_IMPACTS = {"serious", "critical"}
_AXE = Axe()

# Runs in every document before the page's own code (Playwright injects it over CDP, so the
# page's CSP does not apply to it): report each CSP violation back to the test.
_REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__reportCspViolation({
    url: document.location.href,
    directive: event.effectiveDirective,
    blocked: event.blockedURI,
    sample: event.sample,
  });
});
"""

# Form controls a person types into or chooses from: each needs a label.
_UNLABELLED_CONTROLS = """
() => Array.from(document.querySelectorAll("input, select, textarea"))
  .filter((el) => !["hidden", "submit", "button", "reset", "image"].includes(el.type))
  .filter((el) => el.labels.length === 0 && !el.getAttribute("aria-label") && !el.getAttribute("aria-labelledby"))
  .map((el) => el.outerHTML)
"""

# Anything the CSP would block (and that we promised not to write): inline script, style, handlers.
_INLINE_CODE = """
() => {
  const found = [];
  document.querySelectorAll("script:not([src]), style").forEach((el) => found.push(el.outerHTML.slice(0, 80)));
  document.querySelectorAll("*").forEach((el) => {
    for (const attr of el.attributes) {
      // Chromium's form autofill leaves empty style="" on inputs; only a declaration counts.
      const inlineStyle = attr.name === "style" && attr.value.trim() !== "";
      if (inlineStyle || attr.name.startsWith("on")) found.push(el.outerHTML.slice(0, 160));
    }
  });
  return found;
}
"""


@dataclass
class BrowserWatch:
    """Everything one browser context reported: CSP violations, console messages, app documents."""

    csp_violations: list[dict[str, Any]] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    documents: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    @classmethod
    def install(cls, context: Any) -> BrowserWatch:
        watch = cls()
        context.expose_binding("__reportCspViolation", lambda _source, info: watch.csp_violations.append(info))
        context.add_init_script(_REPORT_CSP_VIOLATIONS)
        context.on("console", lambda message: watch.console.append(f"{message.type}: {message.text}"))
        context.on("weberror", lambda error: watch.page_errors.append(str(error.error)))
        context.on("response", watch._record_document)
        return watch

    def _record_document(self, response: Any) -> None:
        if response.request.resource_type == "document":
            self.documents.append((response.url, response.all_headers()))

    def csp_problems(self) -> list[str]:
        # Chromium also logs every violation to the console ("Refused to ... Content Security Policy").
        logged = [line for line in self.console if "Content Security Policy" in line]
        return [str(v) for v in self.csp_violations] + logged


def csp_directives(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def assert_strict_app_csp(url: str, headers: dict[str, str], tenant_origin: str) -> None:
    header = headers.get("content-security-policy")
    assert header, f"{url} has no Content-Security-Policy"
    assert "unsafe-inline" not in header and "unsafe-eval" not in header, f"{url}: {header}"
    directives = csp_directives(header)
    assert directives.get("default-src") == ["'self'"], header
    assert directives.get("script-src") == ["'self'"], header
    assert directives.get("style-src") == ["'self'"], header
    assert directives.get("object-src") == ["'none'"], header
    assert directives.get("frame-ancestors") == ["'none'"], header
    assert set(directives.get("form-action", [])) == {"'self'", tenant_origin}, header


@dataclass
class PageChecks:
    """`page(page, name)` screenshots the page, then checks it the way a careful reviewer would."""

    screenshot: Any
    app_origin: str
    tenant_origin: str
    taken: int = 0
    seen: list[str] = field(default_factory=list)

    def page(self, page: Any, name: str) -> Path:
        page.wait_for_load_state("load")
        self.taken += 1
        path = self.screenshot(page, f"{self.taken:02d}-{name}")
        self.seen.append(page.url)
        where = f"{name} ({page.url})"

        assert page.title().strip(), f"{where}: no <title>"
        assert (page.locator("html").get_attribute("lang") or "").strip(), f"{where}: no lang on <html>"
        unlabelled = page.evaluate(_UNLABELLED_CONTROLS)
        assert unlabelled == [], f"{where}: inputs without a label: {unlabelled}"
        inline = page.evaluate(_INLINE_CODE)
        assert inline == [], f"{where}: inline script or style: {inline}"

        blocking = blocking_axe_violations(page)
        assert blocking == [], f"{where}: axe-core found serious or critical violations:\n" + "\n".join(blocking)

        watch: BrowserWatch = page.watch
        assert watch.csp_problems() == [], f"{where}: CSP violations"
        assert watch.page_errors == [], f"{where}: script errors"
        for url, headers in watch.documents:
            if url.startswith(self.app_origin):
                assert_strict_app_csp(url, headers, self.tenant_origin)
        return path


def blocking_axe_violations(page: Any) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now, one line each."""
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in _AXE.run(page).response["violations"]
        if v["impact"] in BLOCKING_IMPACTS
    ]


def tab_to(page: Any, target: Any, *, max_presses: int = 25) -> None:
    """Press Tab (and nothing else) until `target` has the keyboard focus."""
    for _ in range(max_presses):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            # A keyboard user must see where they are: the focused control draws an outline.
            outline = target.evaluate("el => getComputedStyle(el).outlineStyle")
            assert outline not in ("none", ""), f"no visible focus on {target}"
            return
    raise AssertionError(f"{target} never received focus after {max_presses} Tab presses")


def signed_in_header(page: Any) -> Any:
    return page.locator("header.site-header")


def assert_header_for(page: Any, display_name: str) -> None:
    """The same header on every signed-in page: who is signed in, and a way to sign out."""
    header = signed_in_header(page)
    assert re.search(rf"Signed in as\s+{re.escape(display_name)}", header.inner_text()), header.inner_text()
    assert header.get_by_role("button", name="Sign out").is_visible()
