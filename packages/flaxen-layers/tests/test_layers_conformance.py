"""The conformance table: every LayerCase of every layer area, under every check.

Cases live in ``flaxen.layers.testing._cases_*`` (one module per layer area);
each runs init/apply, jit against eager, vmap against the batch, finite
gradients, and float64/bfloat16 variants where the case allows. The Flax
oracle comparison of the same cases is in test_layers_conformance_compat.py.
"""

import dataclasses
import importlib
import inspect

import jax.numpy as jnp
import pytest

from flaxen import linen as nn
from flaxen.layers import _plugin, testing

CASES = testing.all_cases()


@pytest.mark.parametrize("check", list(testing.CHECKS))
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_conformance(case, check):
    if check not in testing.enabled_checks(case):
        pytest.skip(f"{check} does not apply to {case.name}")
    testing.CHECKS[check](case, nn)


def _exported_module_classes():
    found = {}
    for module_name, names in _plugin.EXPORTS.items():
        module = importlib.import_module(f"flaxen.layers.{module_name}")
        for name in names:
            value = getattr(module, name)
            if inspect.isclass(value) and issubclass(value, nn.Module):
                found[name] = value
    return found


def test_every_exported_module_class_has_a_case():
    classes = _exported_module_classes()
    assert {"Dense", "Conv", "PReLU"} <= set(classes)
    missing = sorted(set(classes) - testing.covered_names())
    assert not missing, f"exported Module classes without a LayerCase: {missing}"


def test_cases_are_well_formed():
    exported = {name for names in _plugin.EXPORTS.values() for name in names}
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))
    for case in CASES:
        assert "/" in case.name, case.name
        unknown = set(case.covers) - exported
        # Functions reached through a submodule (pooling.min_pool) are still exports.
        assert not unknown, f"{case.name} covers names no plugin exports: {unknown}"


def test_every_linear_activation_and_pooling_export_has_a_case():
    # Functions have cases too in the areas of this file's owner.
    for module_name in ("linear", "activation", "pooling"):
        for name in _plugin.EXPORTS[module_name]:
            assert testing.cases_for(name), f"no LayerCase covers {module_name}.{name}"


# -- the kit itself ------------------------------------------------------------------


def test_check_layer_catches_a_layer_that_is_not_jit_stable():
    class Bad(nn.Module):
        @nn.compact
        def __call__(self, x):
            # Python-side state: eager and jitted calls disagree.
            Bad.calls = getattr(Bad, "calls", 0) + 1
            return x * Bad.calls

    case = testing.LayerCase("Bad/jit", lambda nn: Bad(), testing.normal(2, 3), init_rngs=())
    with pytest.raises(AssertionError, match="values differ"):
        testing.check_jit(case, nn)


def test_check_vmap_catches_a_layer_that_mixes_examples():
    class MeanOverBatch(nn.Module):
        @nn.compact
        def __call__(self, x):
            return x - x.mean(axis=0, keepdims=True)

    case = testing.LayerCase("Mix/vmap", lambda nn: MeanOverBatch(), testing.normal(3, 2))
    with pytest.raises(AssertionError, match="values differ"):
        testing.check_vmap(case, nn)


def test_check_bfloat16_catches_ignored_dtype():
    class IgnoresDtype(nn.Module):
        dtype: object = None
        param_dtype: object = jnp.float32

        @nn.compact
        def __call__(self, x):
            return x.astype(jnp.float32) * self.param("w", nn.initializers.ones, (), jnp.float32)

    case = testing.LayerCase("Ignores/dtype", lambda nn: IgnoresDtype(), testing.normal(2, 3))
    with pytest.raises(AssertionError, match="param of dtype float32, not bfloat16"):
        testing.check_bfloat16(case, nn)


def test_check_against_oracle_catches_different_initial_values():
    case = testing.LayerCase("Dense/oracle", lambda nn: nn.Dense(3), testing.normal(2, 3))

    class Shifted:
        def __getattr__(self, name):
            return getattr(nn, name)

        @staticmethod
        def Dense(features):  # stands in for the class
            return nn.Dense(features, kernel_init=nn.initializers.normal(1.0))

    with pytest.raises(AssertionError, match="kernel"):
        testing.check_against_oracle(case, nn, Shifted())


def test_case_defaults():
    case = testing.LayerCase("Conv/x", lambda nn: nn.Conv(2, (3,)), testing.normal(2, 4, 1))
    assert case.covers == ("Conv",)
    assert dataclasses.is_dataclass(case)
    with pytest.raises(dataclasses.FrozenInstanceError):
        case.name = "other"  # type: ignore[misc]
    args, kwargs = case.make_inputs()
    assert args[0].shape == (2, 4, 1) and kwargs == {}
    again, _ = case.make_inputs()
    assert again[0] is args[0]  # inputs are made once


def test_all_cases_rejects_duplicate_names(monkeypatch):
    from flaxen.layers.testing import _registry

    monkeypatch.setattr(
        _registry,
        "_case_modules",
        lambda: ["flaxen.layers.testing._cases_linear", "flaxen.layers.testing._cases_linear"],
    )
    with pytest.raises(ValueError, match="duplicate LayerCase name 'Dense/default'"):
        _registry.all_cases()


@pytest.mark.parametrize(
    "module",
    [
        "flaxen.layers.testing",
        "flaxen.layers.testing._case",
        "flaxen.layers.testing._checks",
        "flaxen.layers.testing._compare",
        "flaxen.layers.testing._registry",
    ],
)
def test_doctests(module):
    import doctest

    results = doctest.testmod(
        importlib.import_module(module),
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    assert results.attempted > 0 and results.failed == 0
