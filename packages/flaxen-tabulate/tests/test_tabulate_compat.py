"""The rendered tables against Flax's, as text (ANSI codes included), for the same models.

Flax orders collection columns by set iteration, which depends on string
hashing; Flax runs in subprocesses with fixed ``PYTHONHASHSEED`` s, and each
case is compared with a run whose order is the sorted one flaxen uses.
"""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.compat

pytest.importorskip("flax")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _tabulate_compat_models as compat_models  # noqa: E402

from flaxen import linen as nn  # noqa: E402

_FLAX = """
import json, sys, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, sys.argv[1])
import flax.linen as nn
import _tabulate_compat_models as m
print(json.dumps(m.render_all(nn)))
"""


def _header(text):
    lines = [line for line in text.splitlines() if "┃" in line]
    return lines[0] if lines else text


def _run_flax(seed):
    env = dict(os.environ, PYTHONHASHSEED=str(seed), JAX_PLATFORMS="cpu")
    out = subprocess.run(
        [sys.executable, "-c", _FLAX, HERE], capture_output=True, text=True, env=env,
        check=False, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def flaxen_tables():
    return compat_models.render_all(nn)


@pytest.fixture(scope="module")
def flax_tables(flaxen_tables):
    """Flax's text per case, from a hash seed that orders its columns as flaxen does.

    Cases whose headers differ for every seed are missing (and fail the test).
    """
    tables: dict = {}
    for seed in (3, 4, 1):
        for case, text in _run_flax(seed).items():
            # the same header: the same column order
            if case not in tables and _header(text) == _header(flaxen_tables[case]):
                tables[case] = text
        if set(tables) >= set(flaxen_tables):
            break
    return tables


def test_tables_are_identical(flax_tables, flaxen_tables):
    compared = [case for case in flaxen_tables if case in flax_tables]
    assert len(compared) == len(flaxen_tables), sorted(set(flaxen_tables) - set(flax_tables))
    failed = [case for case, text in flaxen_tables.items() if "Summary" not in text]
    assert not failed, failed
    mismatched = [case for case in compared if flaxen_tables[case] != flax_tables[case]]
    assert not mismatched, mismatched


def test_same_signature():
    import inspect

    flax_nn = pytest.importorskip("flax.linen")
    ours = inspect.signature(nn.tabulate).parameters
    theirs = inspect.signature(flax_nn.tabulate).parameters
    assert [(p.name, p.kind) for p in ours.values()] == [(p.name, p.kind) for p in theirs.values()]
    for name in ("depth", "show_repeated", "console_kwargs", "compute_flops", "compute_vjp_flops"):
        assert ours[name].default == theirs[name].default
    assert dict(ours["table_kwargs"].default) == dict(theirs["table_kwargs"].default) == {}
    assert repr(ours["mutable"].default) == repr(theirs["mutable"].default)
