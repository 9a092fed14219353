"""The course site (`make book`) as a reader meets it: every page loads in the browser with every
image and every link inside the site working, search answers, math is typeset, the front page
carries the course map and the results tables; and the executed notebooks it was built from have a
figure for every cell that draws one (`make course` must not run kernels with MPLBACKEND=Agg,
which leaves the notebooks without a single figure).

The site is served from build/book/html by a static file server on 127.0.0.1, as GitHub Pages
serves it. Links to other sites are counted, not followed (CI reaches no other site).
"""
from __future__ import annotations

import ast
import re
import sys
import urllib.parse
from pathlib import Path

import nbformat
import pytest
from browsing import REPO, free_port, server, wait_until
from selenium.webdriver.common.by import By

SITE = REPO / "build" / "book" / "html"
EXECUTED = REPO / "build"  # `make course` writes the executed notebooks here
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
MAKE_BOOK = "run `make book` first (CLOTHLIB_FAST=1 make book: from fast-mode runs, as CI does)"

# Calls that draw a matplotlib figure into the cell's output (the course's own plotting helpers too).
# Helpers that draw inside a widget (its Output area) are not counted: their figures are widget state.
DRAWING_CALLS = re.compile(r"^(plt\.(subplots|figure|imshow|plot|bar|barh|hist|scatter|show)|"
                           r"(viz|widgets)\.(plot_\w+|show_\w+))$")

PAGE = """
const local = u => u.startsWith(location.origin);
return {
  ready: document.readyState,
  title: document.title,
  images: [...document.images].map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0})),
  links: [...document.querySelectorAll('a[href]')].map(a => a.href).filter(h => !h.startsWith('javascript:')),
  scripts: [...document.scripts].filter(s => s.src).map(s => s.src),
  styles: [...document.querySelectorAll('link[rel=stylesheet]')].map(l => l.href),
  origin: location.origin,
};
"""


@pytest.fixture(scope="module")
def site(browser, out_dir):
    if not (SITE / "index.html").exists():
        raise FileNotFoundError(f"no course site at {SITE}: {MAKE_BOOK}")
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(SITE)]
    with server(command, base, out_dir / "book_server.log", timeout=30):
        yield base


def site_file(url: str, base: str) -> Path:
    path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
    target = SITE / path[len(urllib.parse.urlsplit(base).path):]
    return target / "index.html" if path.endswith("/") else target


def pages() -> list[Path]:
    return sorted(p for p in SITE.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts)


def test_every_page_loads_with_its_images_links_and_scripts(browser, site, out_dir):
    assert len(pages()) >= len(NOTEBOOKS) + 1, "the front page and one page per notebook"
    problems, external = [], set()
    ids: dict[Path, set[str]] = {}
    for page in pages():
        relative = page.relative_to(SITE).as_posix()
        browser.get(site + relative)
        shown = wait_until(lambda: (s := browser.execute_script(PAGE))["ready"] == "complete" and s, 60,
                           f"{relative} never finished loading")
        for image in shown["images"]:
            if not image["ok"]:
                problems.append(f"{relative}: broken image {image['src'][:120]}")
        for url in shown["links"] + shown["scripts"] + shown["styles"]:
            if not url.startswith(shown["origin"]):
                external.add(urllib.parse.urlsplit(url).netloc)
                continue
            target = site_file(url, site)
            if not target.exists():
                problems.append(f"{relative}: link to a missing file {url}")
                continue
            fragment = urllib.parse.urlsplit(url).fragment
            if fragment and target.suffix == ".html":
                if target not in ids:
                    ids[target] = set(re.findall(r'\bid="([^"]+)"', target.read_text(errors="replace")))
                if urllib.parse.unquote(fragment) not in ids[target]:
                    problems.append(f"{relative}: link to a missing anchor {url}")
        # (the browser asks the server's root for /favicon.ico by itself: not a link of the site's)
        failed = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"
                  and "Failed to load resource" in e["message"] and "/favicon.ico" not in e["message"]]
        problems += [f"{relative}: {message[:160]}" for message in failed]
    browser.get(site)
    browser.save_screenshot(str(out_dir / "book_index.png"))
    print(f"\ncourse site: {len(pages())} pages checked; links to other sites (not followed): {sorted(external)}")
    assert not problems, "\n".join(problems[:40])


def test_the_site_loads_nothing_from_other_sites(browser, site):
    """Scripts, styles and fonts ship with the site: it works offline and from any static host."""
    for page in ("index.html", f"notebooks/{NOTEBOOKS[3].stem}.html"):
        browser.get(site + page)
        shown = browser.execute_script(PAGE)
        foreign = [u for u in shown["scripts"] + shown["styles"] if not u.startswith(shown["origin"])]
        assert not foreign, f"{page} loads {foreign}"


def test_the_front_page_has_the_course_map_results_and_navigation(browser, site):
    browser.get(site + "index.html")
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "Course map" in text and "Results so far" in text
    tables = browser.find_elements(By.CSS_SELECTOR, "article table")
    assert len(tables) >= 4, "course map, parsing, hashing and retrieval tables"
    navigation = {urllib.parse.urlsplit(a.get_attribute("href")).path.rsplit("/", 1)[-1]
                  for a in browser.find_elements(By.CSS_SELECTOR, "nav a.reference.internal")}
    missing = [nb.stem for nb in NOTEBOOKS if f"{nb.stem}.html" not in navigation]
    assert not missing, f"not in the navigation: {missing}"


def test_search_finds_the_pages_that_teach_a_term(browser, site):
    browser.get(site + "search.html?q=Hamming")
    results = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#search-results li"), 60,
                         "search for 'Hamming' gave no result")
    found = " ".join(r.text for r in results)
    assert "Retrieval" in found or "retrieval" in found, found[:500]


def test_math_is_typeset(browser, site):
    browser.get(site + "notebooks/03_dense_crf.html")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "mjx-container"), 60, "MathJax typeset nothing on 03")


def drawing_cells(notebook) -> list[int]:
    """Indices of the code cells that always draw: a drawing call outside any function (its figure is
    the function's caller's) and outside any ``if`` or ``try`` (a branch may rightly draw nothing,
    e.g. when a results file lacks what the figure shows)."""
    found = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse("\n".join(line for line in cell.source.splitlines() if not line.startswith(("%", "!"))))
        except SyntaxError:
            continue
        skipped = {node for block in ast.walk(tree)
                   if isinstance(block, (ast.FunctionDef, ast.Lambda, ast.If, ast.IfExp, ast.Try))
                   for node in ast.walk(block)}
        calls = [ast.unparse(node.func) for node in ast.walk(tree)
                 if isinstance(node, ast.Call) and node not in skipped]
        if any(DRAWING_CALLS.match(call) for call in calls):
            found.append(index)
    return found


def figures(cell) -> int:
    return sum("image/png" in output.get("data", {}) for output in cell.get("outputs", []))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_every_drawing_cell_of_the_executed_notebooks_has_its_figure(path):
    executed = EXECUTED / path.name
    if not executed.exists():
        raise FileNotFoundError(f"no executed {path.name} in {EXECUTED}: {MAKE_BOOK}")
    notebook = nbformat.read(executed, as_version=4)
    cells = drawing_cells(notebook)
    missing = [index for index in cells if figures(notebook.cells[index]) == 0]
    total = sum(figures(cell) for cell in notebook.cells)
    print(f"\n{path.name}: {len(cells)} drawing cells, {total} figures")
    assert not missing, (f"{path.name}: cells {missing} draw but carry no figure (kernels run with "
                         "MPLBACKEND=Agg?)")


def test_the_figure_check_flags_a_drawing_cell_without_its_figure():
    """The checker itself: what an Agg kernel leaves (a drawing cell, no image) is caught; a figure
    drawn in a function, a branch or a widget's callback is not expected in the cell's outputs."""
    cells = [nbformat.v4.new_code_cell("fig, ax = plt.subplots()\nax.plot([1, 2])"),
             nbformat.v4.new_code_cell("fig = viz.plot_garment_matches(photo, labels, results, names)"),
             nbformat.v4.new_code_cell("if ready:\n    plt.figure()"),
             nbformat.v4.new_code_cell("def draw():\n    plt.show()\nwidgets.relabeling_browser(ids)"),
             nbformat.v4.new_code_cell("%matplotlib inline\nprint(1)")]
    notebook = nbformat.v4.new_notebook(cells=cells)
    assert drawing_cells(notebook) == [0, 1]
    cells[1].outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBOR", "text/plain": "<Figure>"})]
    assert [index for index in drawing_cells(notebook) if figures(notebook.cells[index]) == 0] == [0]
