"""Layers from a third-party package, and the smallest install that trains a model.

Fresh environments built from the wheels (``nox -s integration``).
"""

LINEN = ("flaxen-core", "flaxen-linen", "flaxen-layers")


def test_third_party_layer_appears_in_linen(make_env):
    env = make_env(*LINEN, "flaxen-example-layer")
    result = env.run(
        """
        import jax, jax.numpy as jnp
        from flaxen import linen as nn
        from flaxen.plugins import get_registry

        model = nn.ScaledDense(3)
        variables = model.init(jax.random.key(0), jnp.ones((2, 4)))
        print(jax.tree_util.tree_map(jnp.shape, variables))
        y = model.apply(variables, jnp.ones((2, 4)))
        dense = nn.Dense(3).apply({"params": variables["params"]["Dense_0"]}, jnp.ones((2, 4)))
        print(y.shape, bool(jnp.allclose(y, dense)))
        print(get_registry().provider("linen_exports", "ScaledDense").distribution)
        """,
        env={"FLAXEN_STRICT_PLUGINS": "1"},
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "{'params': {'Dense_0': {'bias': (3,), 'kernel': (4, 3)}, 'scale': (3,)}}"
    assert lines[1] == "(2, 3) True"
    assert lines[2] == "flaxen-example-layer"


def test_third_party_layer_passes_the_conformance_kit(make_env):
    env = make_env(*LINEN, "flaxen-example-layer")
    result = env.run(
        """
        from flaxen import linen as nn
        from flaxen.layers import testing
        from flaxen_example_layer.cases import CASES

        for case in CASES:
            testing.check_layer(case, nn)
            print(case.name, testing.enabled_checks(case))
        """,
        env={"FLAXEN_STRICT_PLUGINS": "1"},
    )
    assert result.stdout.splitlines() == [
        "ScaledDense/default ['init_apply', 'jit', 'vmap', 'grad', 'float64', 'bfloat16']"
    ]


def test_minimal_install_trains_an_mlp_with_plain_jax(make_env):
    env = make_env(*LINEN)
    installed = env.installed()
    assert {"flaxen-core", "flaxen-linen", "flaxen-layers"} <= installed
    for absent in ("optax", "orbax-checkpoint", "tensorstore", "rich", "flax"):
        assert absent not in installed, absent
    result = env.run(
        """
        import importlib.util
        import jax, jax.numpy as jnp
        from flaxen import linen as nn

        for module in ("optax", "orbax", "tensorstore", "rich", "flax"):
            assert importlib.util.find_spec(module) is None, module

        class MLP(nn.Module):
            @nn.compact
            def __call__(self, x):
                x = nn.relu(nn.Dense(16)(x))
                return nn.Dense(1)(x)

        kx, kn, kinit = jax.random.split(jax.random.key(0), 3)
        x = jax.random.normal(kx, (128, 3))
        y = jnp.sin(x @ jnp.array([[1.0], [-2.0], [0.5]])) + 0.01 * jax.random.normal(kn, (128, 1))
        model = MLP()
        params = model.init(kinit, x)["params"]

        def loss(params):
            return jnp.mean((model.apply({"params": params}, x) - y) ** 2)

        @jax.jit
        def step(params):
            value, grads = jax.value_and_grad(loss)(params)
            return jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, params, grads), value

        first = float(loss(params))
        for _ in range(300):
            params, _ = step(params)
        print(first, float(loss(params)))

        try:
            nn.tabulate
        except ImportError as error:
            print(type(error).__name__, "|", error)
        """
    )
    lines = result.stdout.splitlines()
    first, last = map(float, lines[0].split())
    assert last < 0.5 * first, (first, last)
    error_type, message = lines[1].split(" | ", 1)
    assert "flaxen-tabulate" in message
    assert error_type == "MissingPackageError"
