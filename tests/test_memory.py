"""A Vigía process reuses freed heap and asks for ordinary pages, and its spawned workers do too."""

import json
import os
import subprocess
import sys

import pytest

_CHILD = (
    "import json, os; from numpy._core import multiarray; "
    "print(json.dumps({'hugepage': multiarray._get_madvise_hugepage(), "
    "'mmap_max': os.environ.get('MALLOC_MMAP_MAX_')}))"
)
_PROBE = f"""
import json, subprocess, sys
from numpy._core import multiarray
from vigia.memory import tune_for_arrays
done = tune_for_arrays()
child = subprocess.run([sys.executable, "-c", {_CHILD!r}], capture_output=True, text=True)
seen = json.loads(child.stdout)
print(json.dumps({{"done": done, "hugepage": multiarray._get_madvise_hugepage(), "child": seen}}))
"""


def _probe(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in _NAMES}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(out.stdout)


_NAMES = ("NUMPY_MADVISE_HUGEPAGE", "MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc heap settings are Linux's")
def test_the_process_and_the_processes_it_starts_keep_freed_heap_and_use_ordinary_pages() -> None:
    seen = _probe()
    assert seen["done"] == {"heap": True, "hugepage_off": True}
    assert seen["hugepage"] is False
    assert seen["child"] == {"hugepage": False, "mmap_max": "0"}


def test_a_setting_the_user_made_wins() -> None:
    seen = _probe(NUMPY_MADVISE_HUGEPAGE="1", MALLOC_MMAP_MAX_="65536")
    assert seen["done"]["hugepage_off"] is False
    assert seen["hugepage"] is True
    assert seen["child"] == {"hugepage": True, "mmap_max": "65536"}
