"""Developer tools that read the package itself: ``python -m unroll.tools.imports`` (the import graph, its
floors and cycles; which dataclass declares a flag and which modules read it)."""
