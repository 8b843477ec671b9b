"""Train a small CNN on the bundled digits data with flaxen.

This is the README's main job (``nox -s demo``). It shows the model summary,
trains with ``TrainState`` + optax under a rich progress bar, writes a
checkpoint after every epoch, and prints the held-out accuracy. Run it again
with the same output directory and it resumes from the last checkpoint;
the same seed gives the same result, interrupted or not.

    python docs/examples/digits/train.py --epochs 12 --seed 0 --out runs/digits
"""

from __future__ import annotations

import argparse
import gzip
import json
import pathlib
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from flaxen import linen as nn
from flaxen.training import checkpoints, train_state

REPO = pathlib.Path(__file__).resolve().parents[3]
DATA = REPO / "data" / "digits.csv.gz"
TEST_FRACTION = 0.2


class CNN(nn.Module):
    """Two convolutions, average pooling and a two-layer classifier."""

    num_classes: int = 10

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = nn.relu(nn.Conv(32, (3, 3))(x))
        x = nn.relu(nn.Conv(64, (3, 3))(x))
        x = nn.avg_pool(x, (2, 2), strides=(2, 2))
        x = x.reshape((x.shape[0], -1))
        x = nn.relu(nn.Dense(128)(x))
        x = nn.Dropout(0.2, deterministic=not train)(x)
        return nn.Dense(self.num_classes)(x)


class TrainState(train_state.TrainState):
    #: Root of the dropout keys, as raw ``uint32[2]`` data so checkpoints can hold it.
    key: jax.Array


def load_digits(seed: int) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(train, test) splits of the digits data; images are 8x8x1 in [0, 1]."""
    with gzip.open(DATA, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    images = table[:, :64].reshape(-1, 8, 8, 1) / 16.0
    labels = table[:, 64].astype(np.int32)
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(len(labels) * TEST_FRACTION)
    test, train = order[:n_test], order[n_test:]
    return (images[train], labels[train]), (images[test], labels[test])


def create_state(seed: int, learning_rate: float) -> TrainState:
    params_key, dropout_key = jax.random.split(jax.random.PRNGKey(seed))
    params = CNN().init(params_key, jnp.zeros((1, 8, 8, 1)))["params"]
    return TrainState.create(
        apply_fn=CNN().apply, params=params, tx=optax.adam(learning_rate), key=dropout_key
    )


@jax.jit
def train_step(state: TrainState, images: jax.Array, labels: jax.Array) -> Any:
    dropout_key = jax.random.fold_in(state.key, state.step)

    def loss_fn(params):
        logits = state.apply_fn(
            {"params": params}, images, train=True, rngs={"dropout": dropout_key}
        )
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss


@jax.jit
def accuracy(state: TrainState, images: jax.Array, labels: jax.Array) -> jax.Array:
    logits = state.apply_fn({"params": state.params}, images)
    return jnp.mean(jnp.argmax(logits, -1) == labels)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--out", type=pathlib.Path, default=REPO / "runs" / "digits")
    parser.add_argument(
        "--backend",
        default="msgpack",
        help="checkpoint backend: msgpack, orbax (needs flaxen-checkpoint[orbax]) or a plugin's",
    )
    parser.add_argument("--fresh", action="store_true", help="ignore existing checkpoints")
    args = parser.parse_args(argv)

    console = Console()
    started = time.perf_counter()
    (train_x, train_y), (test_x, test_y) = load_digits(args.seed)
    console.print(
        f"[bold]digits[/]: {len(train_y)} training and {len(test_y)} held-out images,"
        f" seed {args.seed}"
    )
    console.print(CNN().tabulate(jax.random.key(0), jnp.zeros((1, 8, 8, 1)), depth=1))

    ckpt_dir = (args.out / "checkpoints").resolve()
    state = create_state(args.seed, args.learning_rate)
    first_epoch = 0
    if not args.fresh and checkpoints.latest_checkpoint(ckpt_dir) is not None:
        state = checkpoints.restore_checkpoint(ckpt_dir, target=state)
        first_epoch = int(state.step) // (len(train_y) // args.batch_size)
        console.print(f"Resumed from the checkpoint of epoch {first_epoch} in {ckpt_dir}")

    steps_per_epoch = len(train_y) // args.batch_size
    with Progress(
        TextColumn("epoch {task.fields[epoch]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(
            "train", total=(args.epochs - first_epoch) * steps_per_epoch, epoch=first_epoch,
            loss=float("nan"),
        )  # fmt: skip
        for epoch in range(first_epoch, args.epochs):
            order = np.random.default_rng((args.seed, epoch)).permutation(len(train_y))
            for i in range(steps_per_epoch):
                batch = order[i * args.batch_size : (i + 1) * args.batch_size]
                state, loss = train_step(state, train_x[batch], train_y[batch])
                progress.update(task, advance=1, epoch=epoch + 1, loss=float(loss))
            checkpoints.save_checkpoint(
                ckpt_dir, state, step=epoch + 1, keep=2, overwrite=True, backend=args.backend
            )

    test_accuracy = float(accuracy(state, test_x, test_y))
    elapsed = time.perf_counter() - started
    console.print(
        f"[bold]held-out accuracy: {test_accuracy:.2%}[/] after {args.epochs} epochs"
        f" ({elapsed:.1f} s)"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metrics.json").write_text(
        json.dumps({"test_accuracy": test_accuracy, "epochs": args.epochs, "seed": args.seed})
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
