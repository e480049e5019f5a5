"""The version of unroll, in one place: pyproject.toml reads it (``[tool.setuptools.dynamic]``), the package
re-exports it, and run folders and checkpoints record it. A leaf module: it imports nothing."""

__version__ = "0.2.0"
