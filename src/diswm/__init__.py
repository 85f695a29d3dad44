"""diswm: Disentangled World Models (Wang et al., ICCV 2025, arXiv 2503.08751) as a reproducible artifact.

The library is free of Sacred: every stage takes plain dataclass configs. Experiments, run records and
the paper's tables live in the top-level ``experiments`` package.
"""

__version__ = "0.1.0"
