"""What the summary shows: rows, paths, inputs/outputs, variables, totals, options."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flaxen import linen as nn
from flaxen.tabulate import Row, Table, summarize
from flaxen.tabulate._represent import bytes_repr, markup, size_and_bytes

KEY = jax.random.key(0)
PLAIN = {"force_terminal": False, "width": 200}


def expand(v, x):
    """``v`` broadcastable against ``x`` (tests forbid implicit rank promotion)."""
    return jnp.reshape(v, (1,) * (x.ndim - v.ndim) + v.shape)


class Linear(nn.Module):
    features: int

    @nn.compact
    def __call__(self, x):
        kernel = self.param(
            "kernel", jax.nn.initializers.lecun_normal(), (x.shape[-1], self.features)
        )
        bias = self.param("bias", jax.nn.initializers.zeros, (self.features,))
        y = x @ kernel
        return y + expand(bias, y)


class Stats(nn.Module):
    @nn.compact
    def __call__(self, x):
        mean = self.variable("batch_stats", "mean", jnp.zeros, x.shape[-1:])
        scale = self.param("scale", jax.nn.initializers.ones, x.shape[-1:])
        return (x - expand(mean.value, x)) * expand(scale, x)


class Block(nn.Module):
    features: int

    @nn.compact
    def __call__(self, x, train: bool = False):
        return Stats()(Linear(self.features)(x))


class Net(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = Block(8)(x, True)
        x = Block(4, name="second")(x, train=False)
        return Linear(1)(x)


def rows(table):
    return [("/".join(r.path), type(r.module_copy).__name__, r.method) for r in table]


def cells(text):
    """The table's body as rows of stripped cell texts (one list per line)."""
    return [[c.strip() for c in line.split("│")[1:-1]] for line in text.splitlines() if "│" in line]


def test_rows_follow_call_order_and_own_only_their_variables():
    table = summarize(Net(), KEY, jnp.ones((3, 5)))
    assert rows(table) == [
        ("", "Net", "__call__"),
        ("Block_0", "Block", "__call__"),
        ("Block_0/Linear_0", "Linear", "__call__"),
        ("Block_0/Stats_0", "Stats", "__call__"),
        ("second", "Block", "__call__"),
        ("second/Linear_0", "Linear", "__call__"),
        ("second/Stats_0", "Stats", "__call__"),
        ("Linear_0", "Linear", "__call__"),
    ]
    assert table.collections == ["batch_stats", "params"]
    by_path = {"/".join(r.path): r for r in table}
    assert by_path[""].module_variables == {}
    assert by_path["Block_0"].module_variables == {}
    linear = by_path["Block_0/Linear_0"]
    assert jax.tree_util.tree_map(lambda s: s.shape, linear.module_variables) == {
        "params": {"bias": (8,), "kernel": (5, 8)}
    }
    assert linear.size_and_bytes(table.collections) == {"batch_stats": (0, 0), "params": (48, 192)}
    assert by_path["second/Stats_0"].size_and_bytes(["batch_stats", "params"]) == {
        "batch_stats": (4, 16),
        "params": (4, 16),
    }
    assert table.totals() == {"batch_stats": (12, 48), "params": (101, 404)}


def test_inputs_outputs_and_call_arguments():
    table = summarize(Net(), KEY, jnp.ones((3, 5)))
    by_path = {"/".join(r.path): r for r in table}
    x = jax.ShapeDtypeStruct((3, 5), jnp.float32)
    assert by_path[""].inputs == x
    assert by_path["Block_0"].inputs == (x, True)
    assert by_path["second"].inputs == (jax.ShapeDtypeStruct((3, 8), jnp.float32), {"train": False})
    assert by_path[""].outputs == jax.ShapeDtypeStruct((3, 1), jnp.float32)


def test_rendered_cells():
    text = Net().tabulate(KEY, jnp.ones((3, 5)), console_kwargs=PLAIN)
    body = cells(text)
    header = [c.strip() for c in text.splitlines()[3].split("┃")[1:-1]]
    assert header == ["path", "module", "inputs", "outputs", "batch_stats", "params"]
    assert body[0] == ["", "Net", "float32[3,5]", "float32[3,1]", "", ""]
    assert body[1][:4] == ["Block_0", "Block", "- float32[3,5]", "float32[3,8]"]
    assert body[2][2] == "- True"
    assert ["second", "Block", "- float32[3,8]", "float32[3,4]", "", ""] in body
    assert ["", "", "- train: False", "", "", ""] in body
    # own variables, a blank line, then their count and size
    linear = body.index(["Block_0/Linear_0", "Linear", "float32[3,5]", "float32[3,8]", "",
                         "bias: float32[8]"])  # fmt: skip
    assert [row[5] for row in body[linear + 1 : linear + 4]] == [
        "kernel: float32[5,8]", "", "48 (192 B)",
    ]  # fmt: skip
    assert body[-1] == ["", "", "", "Total", "12 (48 B)", "101 (404 B)"]
    assert text.splitlines()[-2].strip() == "Total Parameters: 113 (452 B)"
    assert text.splitlines()[1].strip() == "Net Summary"


def test_depth_counts_hidden_submodules_in_their_shown_ancestor():
    table = summarize(Net(), KEY, jnp.ones((3, 5)), depth=1)
    assert rows(table) == [
        ("", "Net", "__call__"),
        ("Block_0", "Block", "__call__"),
        ("second", "Block", "__call__"),
        ("Linear_0", "Linear", "__call__"),
    ]
    block = table[1]
    assert block.module_variables == {}
    assert block.size_and_bytes(table.collections) == {
        "batch_stats": (8, 32),
        "params": (56, 224),
    }
    assert table.totals() == summarize(Net(), KEY, jnp.ones((3, 5))).totals()
    text = Net().tabulate(KEY, jnp.ones((3, 5)), depth=1, console_kwargs=PLAIN)
    assert [
        "Block_0",
        "Block",
        "- float32[3,5]",
        "float32[3,8]",
        "8 (32 B)",
        "56 (224 B)",
    ] in cells(text)
    root = summarize(Net(), KEY, jnp.ones((3, 5)), depth=0)
    assert len(root) == 1
    assert root[0].size_and_bytes(root.collections) == {
        "batch_stats": (12, 48),
        "params": (101, 404),
    }


class Shared(nn.Module):
    def setup(self):
        self.dense = Linear(4)

    def __call__(self, x):
        return self.dense(self.dense(x))

    def half(self, x):
        return self.dense(x) / 2


class Twice(nn.Module):
    @nn.compact
    def __call__(self, x):
        inner = Doubler()
        return inner.double(inner(x))


class Doubler(nn.Module):
    @nn.compact
    def __call__(self, x):
        return Linear(x.shape[-1])(x)

    def double(self, x):
        return x * 2


def test_repeated_calls_and_other_methods():
    table = summarize(Shared(), KEY, jnp.ones((1, 4)))
    assert rows(table) == [("", "Shared", "__call__"), ("dense", "Linear", "__call__")]
    table = summarize(Shared(), KEY, jnp.ones((1, 4)), show_repeated=True)
    assert rows(table) == [
        ("", "Shared", "__call__"),
        ("dense", "Linear", "__call__"),
        ("dense", "Linear", "__call__"),
    ]
    # the variables show (and count) only at the first call
    assert table[1].module_variables and not table[2].module_variables
    table = summarize(Twice(), KEY, jnp.ones((1, 4)), show_repeated=True)
    assert ("Doubler_0", "Doubler", "double") in rows(table)
    text = Twice().tabulate(KEY, jnp.ones((1, 4)), show_repeated=True, console_kwargs=PLAIN)
    assert "Doubler (double)" in text


def test_method_argument():
    table = summarize(Shared(), KEY, jnp.ones((1, 4)), method="half")
    assert rows(table) == [("", "Shared", "half"), ("dense", "Linear", "__call__")]
    text = Shared().tabulate(KEY, jnp.ones((1, 4)), method="half", console_kwargs=PLAIN)
    assert cells(text)[0][:2] == ["", "Shared (half)"]
    # nn.tabulate's function passes ``method`` on to init, as Flax's does
    fn = nn.tabulate(Shared(), KEY, console_kwargs=PLAIN)
    assert fn(jnp.ones((1, 4)), method="half") == text
    # a function of the module: its Module calls are the rows
    table = summarize(Twice(), KEY, jnp.ones((1, 2)), method=lambda m, x: m(x) * 3)
    assert rows(table)[0] == ("", "Twice", "__call__")


class Partitioned(nn.Module):
    @nn.compact
    def __call__(self, x):
        init = nn.with_partitioning(jax.nn.initializers.ones, (None, "model"))
        w = self.param("w", init, (x.shape[-1], 4))
        names = tuple(f"axis{i}" for i in range(8))
        self.param("long", nn.with_partitioning(jax.nn.initializers.zeros, names), (1,) * 8)
        return x @ w


def test_partitioned_variables_show_their_axes():
    text = Partitioned().tabulate(KEY, jnp.ones((2, 3)), console_kwargs=PLAIN)
    params = [row[4] for row in cells(text)]
    assert "w: float32[3,4] P(None, model)" in params
    # PyYAML folds at 80 columns counting the markup and the quotes it doubles.
    assert "long: float32[1,1,1,1,1,1,1,1] P(axis0, axis1, axis2," in params
    assert "axis3, axis4, axis5, axis6, axis7)" in params


class Intermediates(nn.Module):
    @nn.compact
    def __call__(self, x):
        self.sow("intermediates", "h", x)
        self.variable("cache", "c", lambda: {"a": jnp.zeros(2), "b": jnp.ones((2, 2), jnp.int8)})
        return x


def test_mutable_and_nested_variables():
    text = Intermediates().tabulate(KEY, jnp.ones(3), console_kwargs=PLAIN)
    assert "intermediates" not in text
    body = cells(text)
    assert [row[4] for row in body[:5]] == ["c:", "a: float32[2]", "b: int8[2,2]", "", "6 (12 B)"]
    text = Intermediates().tabulate(KEY, jnp.ones(3), mutable=True, console_kwargs=PLAIN)
    header = [c.strip() for c in text.splitlines()[3].split("┃")[1:-1]]
    assert header[4:] == ["cache", "intermediates"]
    assert [row[5] for row in cells(text)[:2]] == ["h:", "- float32[3]"]


class Nothing(nn.Module):
    def __call__(self, *args, **kwargs):
        return ()


def test_modules_without_variables_or_inputs():
    text = Nothing().tabulate(KEY, console_kwargs=PLAIN)
    assert cells(text) == [["", "Nothing", "", ""], ["", "", "", "Total"]]
    assert text.splitlines()[-2].strip() == "Total Parameters:"
    text = Nothing().tabulate(KEY, k=1, console_kwargs=PLAIN)
    assert cells(text)[0][2] == "k: 1"


def test_leaf_representations():
    assert markup(jax.ShapeDtypeStruct((2, 3), jnp.bfloat16)) == "[dim]bfloat16[/dim][2,3]"
    assert markup(np.float32(2)) == "[dim]float32[/dim][]"
    assert markup(np.ones(2)) == "[dim]float32[/dim][2]"  # canonicalized like JAX
    assert markup(jax.random.split(jax.random.key(0), 3)) == "[dim]key<fry>[/dim][3]"
    assert markup(3) == "3" and markup(None) == "None" and markup(True) == "True"
    assert markup("it's") == '"its"'  # Flax drops every single quote
    assert markup((1, {"b": None, "a": [2.5]})) == "- 1\n- a:\n  - 2.5\n  b: None"
    assert markup({}) == "{}"
    assert markup(np.array(["x"])) == "array([x], dtype=<U1)"


def test_sizes_and_bytes():
    tree = {
        "a": jnp.zeros((3, 4)),
        "b": jax.ShapeDtypeStruct((5,), jnp.int8),
        "k": jax.random.split(jax.random.key(0), 2),
        "n": None,
        "s": "text",
    }
    assert size_and_bytes(tree) == (12 + 5 + 2, 48 + 5 + 16)
    assert [bytes_repr(n) for n in (0, 999, 1000, 1049, 1050, 999_950, 10**6, 1_049_999)] == [
        "0 B", "999 B", "1,000 B", "1.0 KB", "1.1 KB", "1,000.0 KB", "1,000.0 KB", "1.0 MB",
    ]  # fmt: skip
    assert bytes_repr(10**15) == "1,000,000.0 GB"


def test_abstract_inputs():
    x = jax.ShapeDtypeStruct((3, 5), jnp.float32)
    assert summarize(Net(), KEY, x).totals() == summarize(Net(), KEY, jnp.ones((3, 5))).totals()


class Scanned(nn.Module):
    @nn.compact
    def __call__(self, xs):
        scan = nn.scan(
            Cell, variable_axes={"params": 0}, split_rngs={"params": True},
            in_axes=1, out_axes=1, length=xs.shape[1],
        )  # fmt: skip
        carry, ys = scan()(jnp.zeros((xs.shape[0], 6)), xs)
        mapped = nn.vmap(
            Linear, variable_axes={"params": 0}, split_rngs={"params": True}, in_axes=0,
            out_axes=0,
        )  # fmt: skip
        z = mapped(2)(ys)
        return nn.remat(Linear)(3)(z), carry


class Cell(nn.Module):
    @nn.compact
    def __call__(self, c, x):
        h = Linear(c.shape[-1])(x) + c
        return h, h


def test_transformed_modules_show_the_wrapped_class():
    table = summarize(Scanned(), KEY, jnp.ones((2, 5, 4)))
    assert rows(table) == [
        ("", "Scanned", "__call__"),
        ("ScanCell_0", "Cell", "__call__"),
        ("ScanCell_0/Linear_0", "Linear", "__call__"),
        ("VmapLinear_0", "Linear", "__call__"),
        ("CheckpointLinear_0", "Linear", "__call__"),
    ]
    shapes = {
        "/".join(r.path): jax.tree_util.tree_map(lambda s: s.shape, r.module_variables)
        for r in table
    }
    # variables show with the transform's axis; inputs are one step's
    assert shapes["ScanCell_0/Linear_0"] == {"params": {"bias": (5, 6), "kernel": (5, 4, 6)}}
    assert shapes["VmapLinear_0"] == {"params": {"bias": (2, 2), "kernel": (2, 6, 2)}}
    assert table[2].inputs == jax.ShapeDtypeStruct((2, 4), jnp.float32)
    # repeated traces of the scan body are repeats, not new rows
    assert len(summarize(Scanned(), KEY, jnp.ones((2, 5, 4)), show_repeated=True)) == 7


def test_row_and_table_data():
    table = summarize(Net(), KEY, jnp.ones((3, 5)))
    assert isinstance(table, Table) and isinstance(table, list)
    assert all(isinstance(row, Row) for row in table)
    assert isinstance(table.module, Net)
    assert table[0].module_copy.scope is None  # unbound copies
    data = json.loads(table.to_json())
    assert data["module"] == "Net" and data["collections"] == ["batch_stats", "params"]
    assert data["totals"] == {
        "batch_stats": {"elements": 12, "bytes": 48},
        "params": {"elements": 101, "bytes": 404},
    }
    second = data["rows"][2]
    assert second["path"] == "Block_0/Linear_0" and second["module"] == "Linear"
    assert second["variables"] == {
        "params": {
            "bias": {"shape": [8], "dtype": "float32"},
            "kernel": {"shape": [5, 8], "dtype": "float32"},
        }
    }
    assert second["counts"] == {"params": {"elements": 48, "bytes": 192}}
    assert data["rows"][1]["inputs"] == [{"shape": [3, 5], "dtype": "float32"}, True]


def test_nn_summary_module():
    assert nn.summary.tabulate is nn.tabulate
    assert nn.summary.Row is Row and nn.summary.summarize is summarize


def test_html_and_svg():
    from flaxen.tabulate import export_html, export_svg

    table = summarize(Net(), KEY, jnp.ones((3, 5)))
    html = export_html(table, console_kwargs={"width": 120})
    assert html.startswith("<!DOCTYPE html>") and "Net Summary" in html
    assert "Block_0/Linear_0" in html
    svg = export_svg(table, title="net")
    assert svg.lstrip().startswith("<svg") and "Linear_0" in svg


@pytest.mark.parametrize("force_terminal", [True, False])
def test_ansi_styles(force_terminal):
    text = Net().tabulate(
        KEY, jnp.ones((3, 5)), console_kwargs={"force_terminal": force_terminal, "width": 150}
    )
    assert ("\x1b[2mfloat32\x1b[0m[3,5]" in text) == force_terminal
    assert ("\x1b[1m48 \x1b[0m\x1b[1;2m(192 B)\x1b[0m" in text) == force_terminal
    assert ("\x1b[3m" in text) == force_terminal  # the italic title
