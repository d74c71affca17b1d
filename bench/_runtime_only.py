"""Run `main.py` as a production install would: packages outside switchboard's runtime
dependency closure (those only the dev extras bring: pytest, schemathesis and theirs, such as
rich, click and pygments) cannot be imported, as if absent. Some runtime libraries import
them when present (httpx loads rich and click for its command line), which would otherwise
count towards the gateway's footprint.

Usage: `python bench/_runtime_only.py serve` (arguments as for main.py). The caller may
work out the list (`dev_only_modules()`) and pass it in ABSENT_MODULES (comma-separated), so
that this process does not scan the installed distributions: that scan alone takes ~11 MB,
which would count towards the footprint measured.
"""

from __future__ import annotations

import importlib.abc
import os
import runpy
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def runtime_closure(name: str = "switchboard") -> set[str]:
    """Canonical names of NAME's distribution and everything it requires (no extras of its
    own; extras its requirements ask for, such as sqlalchemy[asyncio], are followed)."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    dists = {canonicalize_name(d.metadata["Name"]): d for d in metadata.distributions()}
    seen: set[tuple[str, tuple[str, ...]]] = set()
    stack: list[tuple[str, tuple[str, ...]]] = [(canonicalize_name(name), ())]
    while stack:
        key, extras = stack.pop()
        if (key, extras) in seen or key not in dists:
            continue
        seen.add((key, extras))
        for line in dists[key].requires or []:
            req = Requirement(line)
            if req.marker is None or any(
                req.marker.evaluate({"extra": extra}) for extra in (*extras, "")
            ):
                stack.append((canonicalize_name(req.name), tuple(sorted(req.extras))))
    return {key for key, _ in seen}


def top_level_names(dist: Any) -> set[str]:
    text = dist.read_text("top_level.txt")
    if text:
        return {line.strip() for line in text.splitlines() if line.strip()}
    names = set()
    for file in dist.files or []:
        first = file.parts[0]
        if first.endswith((".dist-info", ".egg-info", ".data")) or first in ("..", "__pycache__"):
            continue
        names.add(first.removesuffix(".py").split(".")[0])
    return names


def dev_only_modules() -> set[str]:
    """Top-level module names only distributions outside the runtime closure provide."""
    from importlib import metadata

    from packaging.utils import canonicalize_name

    runtime = runtime_closure()
    kept: set[str] = set()
    other: set[str] = set()
    for dist in metadata.distributions():
        names = top_level_names(dist)
        if canonicalize_name(dist.metadata["Name"]) in runtime:
            kept |= names
        else:
            other |= names
    return other - kept - {"_distutils_hack"}


class Absent(importlib.abc.MetaPathFinder):
    def __init__(self, names: set[str]) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: object, target: object = None) -> None:
        if fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def main() -> None:
    given = os.environ.get("ABSENT_MODULES")
    names = set(given.split(",")) if given else dev_only_modules()
    sys.meta_path.insert(0, Absent(names))
    sys.argv = [str(ROOT / "main.py"), *sys.argv[1:]]
    sys.path.insert(0, str(ROOT))
    runpy.run_path(str(ROOT / "main.py"), run_name="__main__")


if __name__ == "__main__":
    main()
