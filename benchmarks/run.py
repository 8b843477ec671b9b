"""flaxen vs Flax Linen (vs raw JAX), measured side by side in one process.

Run through nox (``nox -s bench``), which installs flax into the benchmark
environment only. Every metric runs the two frameworks interleaved (A B A B
...) after warm-up and reports medians and the ratio flaxen / flax; results go
to ``<out>/results.json`` and ``<out>/results.md``.

    python benchmarks/run.py --out benchmarks/results [--quick] [--only trace_apply ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))

import models as bench_models

KEY = jax.random.key(0)


@dataclasses.dataclass
class Row:
    metric: str
    model: str
    flax: float
    flaxen: float
    raw: float | None
    unit: str
    target: str
    ok: bool | None
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.flaxen / self.flax if self.flax else float("nan")


def interleaved(
    fns: dict[str, Callable[[], Any]], repeats: int, warmup: int = 2
) -> dict[str, float]:
    """Median seconds per call of each function, measured round-robin."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def _count(tree: Any) -> int:
    return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))


class Bench:
    def __init__(self, quick: bool) -> None:
        import flax.linen as flax_nn

        from flaxen import linen as flaxen_nn

        self.quick = quick
        self.nn = {"flax": flax_nn, "flaxen": flaxen_nn}
        self.models = {name: bench_models.build(nn) for name, nn in self.nn.items()}
        self.inputs = {name: make() for name, make in bench_models.inputs().items()}
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self._variables: dict[tuple[str, str], Any] = {}

    def repeats(self, full: int) -> int:
        return max(3, full // 4) if self.quick else full

    def module(self, framework: str, model: str) -> Any:
        return getattr(self.models[framework], model)()

    def call_kwargs(self, model: str) -> dict[str, Any]:
        return {"train": True} if model == "ResNet18" else {}

    def variables(self, framework: str, model: str) -> Any:
        key = (framework, model)
        if key not in self._variables:
            module = self.module(framework, model)
            self._variables[key] = module.init(KEY, self.inputs[model], **self.call_kwargs(model))
        return self._variables[key]

    def add(self, metric: str, model: str, t: dict[str, float], target: float | None,
            unit: str = "ms", raw_limit: float | None = None) -> None:  # fmt: skip
        scale = 1e3 if unit == "ms" else 1.0
        ratio = t["flaxen"] / t["flax"]
        ok = None if target is None else ratio <= target
        raw = t.get("raw")
        target_text = "" if target is None else f"<= {target}"
        if raw is not None and raw_limit is not None:
            target_text += f", <= {raw_limit}x raw"
            ok = bool(ok) and t["flaxen"] <= raw_limit * raw
        self.rows.append(
            Row(metric, model, t["flax"] * scale, t["flaxen"] * scale,
                None if raw is None else raw * scale, unit, target_text, ok)
        )  # fmt: skip

    # -- metrics -------------------------------------------------------------------

    def check_parameter_counts(self) -> None:
        for model in bench_models.inputs():
            counts = {fw: _count(self.variables(fw, model)["params"]) for fw in self.nn}
            same_tree = jax.tree_util.tree_structure(
                self.variables("flax", model)
            ) == jax.tree_util.tree_structure(self.variables("flaxen", model))
            self.notes.append(
                f"{model}: {counts['flaxen']:,} parameters (flax {counts['flax']:,});"
                f" same variable tree: {same_tree}"
            )
            if counts["flax"] != counts["flaxen"] or not same_tree:
                raise SystemExit(f"{model}: the frameworks build different models: {counts}")

    def trace_apply(self) -> None:
        for model in ("MLP", "ResNet18", "Transformer", "ScanTransformer"):
            x = self.inputs[model]
            kwargs = self.call_kwargs(model)
            mutable = ["batch_stats"] if model == "ResNet18" else False
            fns = {}
            for fw in self.nn:
                module, variables = self.module(fw, model), self.variables(fw, model)

                def trace(module=module, variables=variables) -> Any:
                    return jax.make_jaxpr(
                        lambda v, x: module.apply(v, x, mutable=mutable, **kwargs)
                    )(variables, x)

                fns[fw] = trace
            raw_fn = bench_models.RAW_APPLY[model]
            params = self.variables("flaxen", model)["params"]
            fns["raw"] = lambda raw_fn=raw_fn, params=params: jax.make_jaxpr(
                lambda p, x: raw_fn(p, x)
            )(params, x)
            self.add("make_jaxpr(apply)", model, interleaved(fns, self.repeats(20)), 0.40,
                     raw_limit=1.5)  # fmt: skip

    def eval_shape_init(self) -> None:
        for model in ("MLP", "ResNet18", "Transformer", "ScanTransformer"):
            x = self.inputs[model]
            kwargs = self.call_kwargs(model)
            fns = {
                fw: (
                    lambda module=self.module(fw, model): jax.eval_shape(
                        lambda k, x: module.init(k, x, **kwargs), KEY, x
                    )
                )
                for fw in self.nn
            }
            if model == "MLP":
                same = jax.tree_util.tree_all(
                    jax.tree_util.tree_map(
                        lambda a, b: bool((a == b).all()),
                        bench_models.raw_mlp_init(KEY, x),
                        self.variables("flaxen", model),
                    )
                )
                self.notes.append(f"raw MLP init equals Linen's bit for bit: {same}")
                fns["raw"] = lambda: jax.eval_shape(
                    lambda k, x: bench_models.raw_mlp_init(k, x), KEY, x
                )
            self.add("eval_shape(init)", model, interleaved(fns, self.repeats(20)), 0.40)

    def eager_apply(self) -> None:
        model = "SmallMLP"
        x = self.inputs[model]
        fns = {}
        for fw in self.nn:
            module, variables = self.module(fw, model), self.variables(fw, model)
            fns[fw] = lambda m=module, v=variables: m.apply(v, x).block_until_ready()
        params = self.variables("flaxen", model)["params"]
        fns["raw"] = lambda: bench_models.raw_mlp(params, x).block_until_ready()
        self.add("eager apply (per call)", model, interleaved(fns, self.repeats(200), 20), 0.15)

    def jit_init_compile(self) -> None:
        for model in ("Transformer", "ResNet18"):
            x = self.inputs[model]
            kwargs = self.call_kwargs(model)
            fns = {
                fw: (
                    lambda module=self.module(fw, model): (
                        jax.jit(lambda k, x: module.init(k, x, **kwargs)).lower(KEY, x).compile()
                    )
                )
                for fw in self.nn
            }
            self.add("jit(init) lower+compile", model, interleaved(fns, self.repeats(5), 1),
                     0.5, unit="s")  # fmt: skip

    def train_step(self) -> None:
        import optax

        for model in ("ResNet18", "Transformer"):
            x = self.inputs[model]
            fns, costs = {}, {}
            for fw in self.nn:
                module = self.module(fw, model)
                variables = self.variables(fw, model)
                step, state = _make_train_step(module, variables, x, model, optax)
                compiled = jax.jit(step).lower(state, x).compile()
                cost = compiled.cost_analysis()
                cost = cost[0] if isinstance(cost, list) else cost
                costs[fw] = (cost.get("flops", 0.0), cost.get("bytes accessed", 0.0))
                holder = {"state": state}

                def run(compiled=compiled, holder=holder) -> None:
                    holder["state"], loss = compiled(holder["state"], x)
                    loss.block_until_ready()

                fns[fw] = run
            self.add("jitted train step", model, interleaved(fns, self.repeats(30), 3), 1.02)
            same = costs["flax"] == costs["flaxen"]
            self.rows[-1].note = (
                f"FLOPs {costs['flaxen'][0]:.4g} vs {costs['flax'][0]:.4g}, bytes"
                f" {costs['flaxen'][1]:.4g} vs {costs['flax'][1]:.4g}"
                + ("" if same else " (programs differ)")
            )

    def tabulate(self) -> None:
        model = "Transformer"
        x = self.inputs[model]
        fns = {
            fw: (
                lambda module=self.module(fw, model): module.tabulate(
                    KEY, x, console_kwargs={"width": 200, "force_terminal": False}
                )
            )
            for fw in self.nn
        }
        self.add("Module.tabulate", model, interleaved(fns, self.repeats(6), 1), 0.3)

    def import_time(self) -> None:
        minimal = os.environ.get("FLAXEN_BENCH_MINIMAL_PYTHON", sys.executable)
        code = (
            "import time, jax.numpy\n"
            "t = time.perf_counter()\n"
            "from {pkg} import linen as nn\n"
            "nn.Dense\n"
            "print(time.perf_counter() - t)\n"
        )

        def measure(python: str, pkg: str) -> float:
            out = subprocess.run(
                [python, "-c", code.format(pkg=pkg)], capture_output=True, text=True, check=True
            )
            return float(out.stdout.strip().splitlines()[-1])

        samples: dict[str, list[float]] = {"flax": [], "flaxen": []}
        for _ in range(self.repeats(9)):
            samples["flax"].append(measure(sys.executable, "flax"))
            samples["flaxen"].append(measure(minimal, "flaxen"))
        t = {k: statistics.median(v) for k, v in samples.items()}
        self.add("import linen + nn.Dense (warm)", "-", t, 1.0)
        self.rows[-1].note = "flaxen: minimal install" if minimal != sys.executable else ""

    def checkpoint(self) -> None:
        script = pathlib.Path(__file__).parent / "checkpoint_bench.py"
        if not script.exists():
            self.notes.append("checkpoint benchmark: benchmarks/checkpoint_bench.py not found")
            return
        self.notes.append("checkpoint benchmark: see checkpoint.md next to this file")

    # -- reporting -----------------------------------------------------------------

    def markdown(self) -> str:
        lines = [
            "| metric | model | flax | flaxen | raw JAX | flaxen/flax | target | met |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            raw = "" if r.raw is None else f"{r.raw:.3f} {r.unit}"
            met = {None: "", True: "yes", False: "**no**"}[r.ok]
            lines.append(
                f"| {r.metric} | {r.model} | {r.flax:.3f} {r.unit} | {r.flaxen:.3f} {r.unit}"
                f" | {raw} | {r.ratio:.3f} | {r.target} | {met} |"
            )
        notes = [r for r in self.rows if r.note]
        if notes or self.notes:
            lines.append("")
            lines.extend(f"- {r.metric} / {r.model}: {r.note}" for r in notes)
            lines.extend(f"- {n}" for n in self.notes)
        return "\n".join(lines)


def _make_train_step(module: Any, variables: Any, x: Any, model: str, optax: Any):
    tx = optax.adam(1e-3)
    params = variables["params"]
    extra = {k: v for k, v in variables.items() if k != "params"}
    state = (params, extra, tx.init(params))

    def loss_fn(params, extra, x):
        if model == "ResNet18":
            logits, updates = module.apply(
                {"params": params, **extra}, x, train=True, mutable=["batch_stats"]
            )
            labels = jnp.zeros((x.shape[0],), jnp.int32)
        else:
            logits, updates = module.apply({"params": params, **extra}, x), extra
            labels = x
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
        return loss, updates

    def step(state, x):
        params, extra, opt_state = state
        (loss, extra), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, extra, x)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), extra, opt_state), loss

    return step, state


METRICS = (
    "trace_apply", "eval_shape_init", "eager_apply", "jit_init_compile", "train_step",
    "tabulate", "import_time", "checkpoint",
)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--only", nargs="*", choices=METRICS, default=list(METRICS))
    args = parser.parse_args(argv)
    bench = Bench(args.quick)
    bench.check_parameter_counts()
    for metric in args.only:
        try:
            getattr(bench, metric)()
        except Exception as error:
            bench.notes.append(f"{metric} failed: {type(error).__name__}: {error}")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = bench.markdown()
    header = (
        f"jax {jax.__version__}, {jax.devices()[0].platform}, {os.cpu_count()} CPUs;"
        f" medians of interleaved runs\n\n"
    )
    (out / "results.md").write_text(header + table + "\n")
    (out / "results.json").write_text(
        json.dumps(
            {
                "jax": jax.__version__,
                "rows": [dict(dataclasses.asdict(r), ratio=r.ratio) for r in bench.rows],
                "notes": bench.notes,
            },
            indent=2,
        )
    )
    print(header + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
