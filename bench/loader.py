"""Loading one benchmark script from another: bench/ingest.py and bench/alerts.py share their names
with the ingest and alerts packages, so they are loaded by path under a ``bench_`` name."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def load_bench(name: str) -> ModuleType:
    """bench/<name>.py as the module ``bench_<name>`` (loaded once)."""
    loaded = sys.modules.get(f"bench_{name}")
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location(f"bench_{name}", Path(__file__).with_name(f"{name}.py"))
    if spec is None or spec.loader is None:
        raise SystemExit(f"bench/{name}.py is missing")
    module = importlib.util.module_from_spec(spec)
    sys.modules[f"bench_{name}"] = module
    spec.loader.exec_module(module)
    return module
