"""Where the runbooks' data lives: include/ beside plugins/, in a checkout and in the Airflow image alike."""

from __future__ import annotations

import os
from pathlib import Path

#: plugins/eks_runbooks/core/include.py → the repository's (or image's) include/.
DEFAULT_INCLUDE_DIR = Path(__file__).resolve().parents[3] / "include"


def include_path(*parts: str) -> Path:
    """A file under include/ (``EKS_RUNBOOKS_INCLUDE`` overrides the folder, e.g. for an installed copy)."""
    return Path(os.environ.get("EKS_RUNBOOKS_INCLUDE", DEFAULT_INCLUDE_DIR)).joinpath(*parts)
