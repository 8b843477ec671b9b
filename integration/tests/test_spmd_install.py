"""flaxen-spmd installed (or not) on its own: fresh environments from the wheels."""

BASE = ("flaxen-core", "flaxen-linen")


def test_without_flaxen_spmd_the_error_names_it(make_env):
    env = make_env(*BASE)
    result = env.run(
        """
from flaxen import linen as nn
try:
    nn.logical_axis_rules
except ImportError as e:
    print(type(e).__name__, "|", e)
""",
        env={"FLAXEN_STRICT_PLUGINS": "1"},
    )
    name, message = result.stdout.strip().split(" | ", 1)
    assert name == "MissingPackageError"
    assert "pip install flaxen-spmd" in message


def test_with_flaxen_spmd_only(make_env):
    env = make_env(*BASE, "flaxen-spmd")
    installed = env.installed()
    assert "flaxen-spmd" in installed
    for absent in ("flaxen-layers", "rich", "optax", "flax"):
        assert absent not in installed, absent
    result = env.run(
        """
import jax, jax.numpy as jnp, numpy as np
from flaxen import linen as nn
from flaxen.linen import spmd

class Layer(nn.Module):
    @nn.compact
    def __call__(self, x):
        init = spmd.with_logical_partitioning(jax.nn.initializers.ones, ("embed", "mlp"))
        w = self.param("w", init, (x.shape[-1], 4))
        return spmd.with_logical_constraint(x @ w, ("batch", "mlp"))

rules = (("batch", "data"), ("mlp", "model"))
mesh = jax.sharding.Mesh(np.array(jax.devices()).reshape(2, 2), ("data", "model"))
specs = nn.get_partition_spec(jax.eval_shape(Layer().init, jax.random.key(0), jnp.ones((4, 3))))
shardings = spmd.logical_to_mesh_sharding(specs, mesh, rules)
with jax.set_mesh(mesh), spmd.logical_axis_rules(rules):
    variables = jax.jit(Layer().init, out_shardings=shardings)(jax.random.key(0), jnp.ones((4, 3)))
    y = jax.jit(Layer().apply)(variables, jnp.ones((4, 3)))
print(variables["params"]["w"].value.sharding.spec, y.sharding.spec, float(y.sum()))
""",
        env={"FLAXEN_STRICT_PLUGINS": "1", "XLA_FLAGS": "--xla_force_host_platform_device_count=4"},
    )
    assert result.stdout.strip() == "P(None, 'model') P('data', 'model') 48.0"
