"""Sphinx configuration of the course site (`make book`): the executed notebooks rendered by myst-nb
with the README as the front page, built by book/assemble.py's layout in build/book/src.

Why Sphinx + myst-nb: it renders what the notebooks hold (matplotlib figures, Markdown results
tables, LaTeX math, text outputs) from already executed notebooks without running them again, it
builds offline (MathJax ships with sphinx-mathjax-offline: no CDN) and its search index is a static
file, so the site works from GitHub Pages or any folder. (Jupyter Book 2 / mystmd fetch their site
theme from the web at build time; Jupyter Book 1 is this same stack with older pins.)
"""

project = "clothlib: clothing retrieval by parsing and hashing, reproduced on a CPU"
author = "the clothlib authors"
copyright = "the clothlib authors, Apache License 2.0"

extensions = ["myst_nb", "sphinx-mathjax-offline", "sphinx.ext.githubpages"]  # githubpages: writes .nojekyll
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3  # the README's "#section" links work on the front page

# The notebooks were executed by `make course` (Jupyter's inline backend: every figure kept); never again here.
nb_execution_mode = "off"
nb_merge_streams = True
# Interactive widgets need a live kernel; assemble.py puts a note in their place (each has a static figure).
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]

exclude_patterns = ["**.ipynb_checkpoints"]
html_theme = "sphinx_book_theme"
html_title = "clothlib course"
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": True,
    "home_page_in_toc": True,
    "navigation_with_keys": False,
}
html_static_path: list[str] = []
html_last_updated_fmt = None
# A site with no external requests: no Google fonts, no analytics, no CDN scripts.
html_theme_options["use_fullscreen_button"] = False
# A notebook may step from its title straight to a "###" heading; that is the notebook's style, not a broken page.
suppress_warnings = ["myst.header"]
