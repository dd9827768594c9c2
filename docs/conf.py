"""Sphinx configuration of the dask-k8s-lab docs (MyST Markdown; built with -W by ./dev test)."""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS / "_ext"), str(DOCS.parent), str(DOCS.parent / "operator")]

project = "dask-k8s-lab"
author = "dask-k8s-lab contributors"
copyright = "dask-k8s-lab contributors"

extensions = ["myst_parser", "sphinx.ext.autodoc", "dkl_sphinx"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "_generated", "README.md"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
nitpicky = False  # third-party types in signatures (kr8s, distributed) have no inventory offline

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"exclude-members": "__init__"}

html_theme = "alabaster"
html_static_path = ["_static"]
html_title = "dask-k8s-lab"
html_theme_options = {"description": "Dask on Kubernetes from JupyterLab", "fixed_sidebar": True}
html_sidebars = {"**": ["about.html", "navigation.html", "searchbox.html"]}
smartquotes = False  # keep "--option" and quotes as typed
