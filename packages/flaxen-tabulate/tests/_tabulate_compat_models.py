"""Models summarized by both flax.linen and flaxen.linen in the compat tests.

``build(nn)`` returns ``{name: (module, args, kwargs, options)}``; each entry is
tabulated with every option set in ``options``.
"""

import jax
import jax.numpy as jnp

BASE = [{}, {"depth": 1}, {"show_repeated": True}]
WIDTHS = [{"width": 200}, {"width": 80}, {"width": 48, "force_terminal": False}]


def build(nn):
    models = {}

    class Foo(nn.Module):
        @nn.compact
        def __call__(self, x):
            h = nn.Dense(4)(x)
            return nn.Dense(2)(h)

    models["Foo"] = (Foo(), (jnp.ones((16, 9)),), {}, [*BASE, {"compute_flops": True}])

    class MultiIO(nn.Module):
        @nn.compact
        def __call__(self, x, y, *, scale=1.0, flag=True, name_=None):
            a = nn.Dense(3, name="proj")(x)
            return {"sum": a + y, "pair": (a, y * scale)}, None

    models["MultiIO"] = (
        MultiIO(),
        (jnp.ones((2, 4)), jnp.ones((2, 3), jnp.int32)),
        {"scale": 2.0, "flag": False, "name_": "abc"},
        BASE,
    )

    class Block(nn.Module):
        features: int

        @nn.compact
        def __call__(self, x, train: bool = False):
            x = nn.Dense(self.features)(x)
            x = nn.BatchNorm(use_running_average=not train)(x)
            x = nn.Dropout(0.5, deterministic=not train)(x)
            return nn.relu(x)

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool = False):
            x = Block(8)(x, train)
            x = Block(4, name="second")(x, train=train)
            return nn.Dense(1)(x)

    models["Net"] = (
        Net(), (jnp.ones((3, 5)),), {"train": True},
        [*BASE, {"depth": 0}, {"compute_flops": True, "compute_vjp_flops": True}],
    )  # fmt: skip

    class Cell(nn.Module):
        @nn.compact
        def __call__(self, c, x):
            h = nn.Dense(c.shape[-1])(x) + c
            return h, h

    class Scanned(nn.Module):
        @nn.compact
        def __call__(self, xs):
            scan = nn.scan(
                Cell, variable_axes={"params": 0}, split_rngs={"params": True},
                in_axes=1, out_axes=1, length=xs.shape[1],
            )  # fmt: skip
            c, ys = scan()(jnp.zeros((xs.shape[0], 6)), xs)
            vmapped = nn.vmap(
                nn.Dense, variable_axes={"params": 0}, split_rngs={"params": True},
                in_axes=0, out_axes=0,
            )  # fmt: skip
            z = vmapped(2)(ys)
            return nn.remat(nn.Dense)(3)(z), c

    # show_repeated differs on purpose: Flax also lists its transforms'
    # internal wrapper calls (path "", int32[] inputs).
    models["Scanned"] = (
        Scanned(), (jnp.ones((2, 5, 4)),), {},
        [{}, {"depth": 1}, {"compute_flops": True, "compute_vjp_flops": True}],
    )  # fmt: skip

    class Shared(nn.Module):
        def setup(self):
            self.dense = nn.Dense(4)
            self.out = nn.Dense(2)

        def __call__(self, x):
            return self.out(self.dense(x) + self.dense(x))

    models["Shared"] = (Shared(), (jnp.ones((1, 4)),), {}, BASE)

    class Part(nn.Module):
        @nn.compact
        def __call__(self, x):
            w = self.param(
                "w", nn.with_partitioning(nn.initializers.ones, (None, "model")), (x.shape[-1], 4)
            )
            b = self.param(
                "b", nn.with_logical_partitioning(nn.initializers.zeros, ("embed",)), (4,)
            )
            kernel_init = nn.with_partitioning(nn.initializers.lecun_normal(), ("data", None))
            names = tuple(f"ax{i}" for i in range(9))
            self.param("long", nn.with_partitioning(nn.initializers.zeros, names), (1,) * 9)
            return nn.Dense(3, kernel_init=kernel_init)(x @ w + jnp.reshape(b, (1, 4)))

    models["Part"] = (Part(), (jnp.ones((2, 5)),), {}, BASE)

    class Inner(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(2)(x)

        def extra(self, x):
            return x * 2

    class OwnAndChild(nn.Module):
        @nn.compact
        def __call__(self, x):
            w = self.param("w", nn.initializers.ones, (3,))
            self.variable(
                "cache", "c", lambda: {"a": jnp.zeros(2), "b": jnp.ones((2, 2), jnp.int8)}
            )
            inner = Inner()
            z = inner.extra(inner(x * jnp.reshape(w, (1, -1))))
            self.sow("intermediates", "z", z)
            return z

    models["OwnAndChild"] = (
        OwnAndChild(), (jnp.ones((4, 3)),), {},
        [*BASE, {"depth": 0}, {"mutable": True}],
    )  # fmt: skip

    class Strs(nn.Module):
        @nn.compact
        def __call__(self, x, *rest):
            return nn.Dense(1)(x)

    odd = ("True", "a: b", "", "- x", "multi\nline", "it's", "word " * 20, "#x", "é",
           {"z": 1, "a": [1.5, None], "k": (2, "x")}, 3, 2.5, None, (), [], {})  # fmt: skip
    models["Strs"] = (Strs(), (jnp.ones((1, 2)), *odd), {}, [{}])

    class Seq(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Sequential([nn.Dense(3), nn.relu, nn.Dense(1)])(x)

    models["Seq"] = (Seq(), (jnp.ones((1, 2)),), {}, BASE)

    class Big(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(1000)(nn.Dense(1500)(x))

    models["Big"] = (Big(), (jnp.ones((1, 1000)),), {}, [{}])

    class Keys(nn.Module):
        @nn.compact
        def __call__(self, tokens):
            x = nn.Embed(10, 4, embedding_init=nn.initializers.normal())(tokens)
            return nn.LayerNorm()(x)

    models["Keys"] = (
        Keys(), (jnp.zeros((2, 5), jnp.int32),), {},
        [{}, {"compute_flops": True, "compute_vjp_flops": True}],
    )  # fmt: skip
    return models


def render_all(nn):
    """``{case: text}`` for every model, option set and console width."""
    out = {}
    for name, (module, args, kwargs, options) in build(nn).items():
        for i, opts in enumerate(options):
            for j, console in enumerate(WIDTHS):
                rngs = {"params": jax.random.key(0), "dropout": jax.random.key(1)}
                try:
                    text = module.tabulate(rngs, *args, console_kwargs=console, **opts, **kwargs)
                except Exception as e:
                    text = f"{type(e).__name__}"
                out[f"{name}/{i}/{j}"] = text
    return out
