"""Where the non-Python parts live: ``widget/``, ``templates/``, ``static/`` beside the package in a
checkout, or copied into it (``*_assets``) when installed from a wheel."""

from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def asset_dir(name: str) -> Path:
    package = Path(__file__).resolve().parent
    for candidate in (package.parent / name, package / f"{name}_assets"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the {name}/ folder is missing from this installation")
