"""flaxen-tabulate installed (or not) on its own: fresh environments from the wheels."""

BASE = ("flaxen-core", "flaxen-linen")

MODEL = """
import jax, jax.numpy as jnp
from flaxen import linen as nn

class Affine(nn.Module):
    @nn.compact
    def __call__(self, x):
        return x @ self.param("kernel", jax.nn.initializers.ones, (x.shape[-1], 3))
"""


def test_without_flaxen_tabulate_the_error_names_it(make_env):
    env = make_env(*BASE)
    assert "rich" not in env.installed() and "flaxen-tabulate" not in env.installed()
    result = env.run(
        MODEL
        + """
try:
    Affine().tabulate(jax.random.key(0), jnp.ones((2, 4)))
except ImportError as e:
    print(type(e).__name__, "|", e)
""",
        env={"FLAXEN_STRICT_PLUGINS": "1"},
    )
    name, message = result.stdout.strip().split(" | ", 1)
    assert name == "MissingPackageError"
    assert "pip install flaxen-tabulate" in message


def test_with_flaxen_tabulate_only(make_env):
    env = make_env(*BASE, "flaxen-tabulate")
    installed = env.installed()
    assert {"flaxen-tabulate", "rich"} <= installed
    for absent in ("flaxen-layers", "optax", "pyyaml", "flax"):
        assert absent not in installed, absent
    result = env.run(
        MODEL
        + """
from flaxen.linen import summary
text = Affine().tabulate(jax.random.key(0), jnp.ones((2, 4)),
                         console_kwargs={"force_terminal": False, "width": 80})
print([line for line in text.splitlines() if "Total Parameters" in line][0].strip())
print(summary.summarize(Affine(), jax.random.key(0), jnp.ones((2, 4))).to_json())
""",
        env={"FLAXEN_STRICT_PLUGINS": "1"},
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "Total Parameters: 12 (48 B)"
    assert '"totals": {"params": {"elements": 12, "bytes": 48}}' in lines[1]
