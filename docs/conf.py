# Sphinx configuration for escnn_soft.
project = "escnn_soft"
author = "escnn_soft contributors"
release = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_gallery.gen_gallery",
]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
nitpicky = False
exclude_patterns = ["_build"]
# The user guide: the scripts in examples/ run when the docs are built, their output and figures shown.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"\.py$",  # run every example, not only plot_*.py
    "within_subsection_order": "FileNameSortKey",  # the numbered order of the guide
    "download_all_examples": False,
    "show_memory": False,
}
html_theme = "alabaster"
napoleon_use_ivar = True  # 'Attributes:' sections as fields, so NamedTuple fields are not described twice
