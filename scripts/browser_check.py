"""Open every chapter and API page of a built book in headless Chromium and check what a reader sees.

Usage::

    python scripts/browser_check.py [--html _build/html] [--screenshots _build/screenshots] [book/ntk ...]

Each page listed in ``_toc.yml`` (chapters, the API pages, the start pages) is loaded from disk
with networking disabled. A small script injected into a temporary copy of the page waits for
MathJax to finish, then records what the browser rendered; the check fails, naming the page, when

- maths is left untypeset: raw ``$...$``, ``\\(``, ``\\[`` or ``\\begin{`` in the rendered prose, or a
  MathJax error node;
- an image does not load (``naturalWidth == 0``);
- a cell shows an error or a traceback;
- the page is wider than the viewport (sideways scrolling of the whole page).

Code blocks that scroll sideways inside their own box are counted and reported; ``--strict-code``
makes them fail too. One screenshot per page is kept under ``--screenshots`` for a person to
look at. Without Chromium the script says how to install it and exits 0 (skipped), unless
``--require`` is given (CI gives it).
"""

from __future__ import annotations

import argparse
import html as html_lib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MARK = "nips2019-browser-check"
WIDTH, HEIGHT = 1280, 900

_PROBE = """
<script>
(function () {
  function visibleText(root) {
    var walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
      acceptNode: function (node) {
        for (var p = node.parentElement; p; p = p.parentElement) {
          var tag = p.tagName.toLowerCase();
          if (["script", "style", "pre", "code", "mjx-container", "textarea", "noscript"].indexOf(tag) >= 0)
            return NodeFilter.FILTER_REJECT;
          if (p.classList && (p.classList.contains("highlight") || p.classList.contains("cell_input")))
            return NodeFilter.FILTER_REJECT;
        }
        return NodeFilter.FILTER_ACCEPT;
      }
    });
    var out = [], n;
    while ((n = walker.nextNode())) out.push(n.nodeValue);
    return out.join(" ");
  }
  function report() {
    var main = document.querySelector("main") || document.body;
    var text = visibleText(main);
    var raw = [];
    var patterns = [/\\$\\$[^$]+\\$\\$/g, /\\$[^$\\s][^$]{0,200}\\$/g, /\\\\\\(/g, /\\\\\\[/g, /\\\\begin\\{/g];
    patterns.forEach(function (re) { (text.match(re) || []).forEach(function (m) { raw.push(m.slice(0, 80)); }); });
    var broken = Array.prototype.filter.call(document.images, function (img) {
      return !(img.complete && img.naturalWidth > 0);
    }).map(function (img) { return img.getAttribute("src"); });
    var wideCode = Array.prototype.filter.call(main.querySelectorAll("pre"), function (pre) {
      return pre.scrollWidth > pre.clientWidth + 2;
    }).length;
    var errors = Array.prototype.filter.call(main.querySelectorAll(".output, .cell_output pre"), function (el) {
      return el.classList.contains("traceback") || el.classList.contains("error") ||
             /Traceback \\(most recent call last\\)/.test(el.textContent);
    }).length;
    var res = {
      rawMath: raw.slice(0, 10),
      mathErrors: document.querySelectorAll("mjx-merror, [data-mjx-error]").length,
      typeset: document.querySelectorAll("mjx-container").length,
      brokenImages: broken,
      images: document.images.length,
      errorOutputs: errors,
      stderrOutputs: main.querySelectorAll(".output.stderr").length,
      pageWidth: document.documentElement.scrollWidth,
      viewport: window.innerWidth,
      wideCode: wideCode
    };
    var el = document.createElement("pre");
    el.id = "MARK";
    el.textContent = JSON.stringify(res);
    document.body.appendChild(el);
  }
  window.addEventListener("load", function () {
    setTimeout(function () {
      if (window.MathJax && MathJax.startup && MathJax.startup.promise) MathJax.startup.promise.then(report, report);
      else report();
    }, 200);
  });
})();
</script>
""".replace("MARK", MARK)


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                pages.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc.get("parts", []))
    return pages


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(browser: str, url: str, *extra: str, timeout: int = 90) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-extensions",
            # no network: every host resolves nowhere; file:// pages still load their local assets
            "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
            f"--user-data-dir={profile}", "--virtual-time-budget=20000", f"--window-size={WIDTH},{HEIGHT}",
            "--hide-scrollbars", *extra, url,
        ]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def check_page(browser: str, page: Path, shot: Path | None) -> tuple[dict, list[str]]:
    probe = page.with_name(f".{MARK}-{page.name}")
    html = page.read_text(encoding="utf-8")
    probe.write_text(html.replace("</body>", _PROBE + "</body>", 1), encoding="utf-8")
    try:
        out = _run(browser, probe.as_uri(), "--dump-dom")
    finally:
        probe.unlink(missing_ok=True)
    found = re.search(rf'<pre id="{MARK}"[^>]*>(.*?)</pre>', out.stdout, flags=re.S)
    if found is None:
        return {}, [f"the probe did not report (chromium exit {out.returncode}: {out.stderr.strip()[-300:]})"]
    res = json.loads(html_lib.unescape(found.group(1)))
    problems = []
    if res["rawMath"]:
        problems.append(f"untypeset maths: {res['rawMath']}")
    if res["mathErrors"]:
        problems.append(f"{res['mathErrors']} MathJax error(s)")
    if res["brokenImages"]:
        problems.append(f"images that do not load: {res['brokenImages']}")
    if res["errorOutputs"]:
        problems.append(f"{res['errorOutputs']} cell output(s) show an error or a traceback")
    if res["pageWidth"] > res["viewport"] + 2:
        problems.append(f"page is {res['pageWidth']} px wide in a {res['viewport']} px viewport")
    if shot is not None:
        shot.parent.mkdir(parents=True, exist_ok=True)
        _run(browser, page.as_uri(), f"--screenshot={shot}")
    return res, problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", default=str(ROOT / "_build" / "html"), help="the built book")
    parser.add_argument("--screenshots", default=str(ROOT / "_build" / "screenshots"))
    parser.add_argument("--no-screenshots", action="store_true")
    parser.add_argument("--strict-code", action="store_true", help="fail on code blocks that scroll sideways")
    parser.add_argument("--jobs", type=int, default=2, help="pages checked at once")
    parser.add_argument("--require", action="store_true", help="fail (instead of skipping) without Chromium")
    parser.add_argument("pages", nargs="*", help="toc entries (book/ntk); default: all")
    args = parser.parse_args(argv)

    browser = chromium()
    if browser is None:
        print("browser check skipped: no Chromium found. Install it with `apt-get install chromium` "
              "(Debian/Ubuntu) and run `python scripts/browser_check.py` again.")
        return 1 if args.require else 0
    html = Path(args.html).resolve()

    def one(entry):
        page = html / f"{entry}.html"
        if not page.exists():
            return entry, {}, [f"no page {page}"]
        shot = None if args.no_screenshots else Path(args.screenshots) / f"{entry.replace('/', '_')}.png"
        res, problems = check_page(browser, page, shot)
        if args.strict_code and res.get("wideCode"):
            problems.append(f"{res['wideCode']} code block(s) scroll sideways")
        return entry, res, problems

    failed = 0
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for entry, res, problems in pool.map(one, args.pages or toc_pages()):
            status = "FAIL" if problems else "ok  "
            summary = (f"{res.get('typeset', 0)} formulas, {res.get('images', 0)} images, "
                       f"{res.get('wideCode', 0)} wide code blocks, {res.get('stderrOutputs', 0)} stderr outputs"
                       ) if res else ""
            print(f"{status} {entry}: {summary}")
            for p in problems:
                print(f"     {p}")
            failed += bool(problems)
    print(f"browser check: {failed} page(s) failed" if failed else "browser check: all pages passed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
