"""The guides' training-utility snippets, run with ``flax`` -> ``flaxen``.

Guides: "Learning rate scheduling", "Ensembling on multiple devices", "Transfer
learning", "Managing Parameters and State", "Upgrading my codebase to Optax",
and the TrainState parts of "Batch normalization", "Dropout" and the quick
start. Snippets are kept as close to the guides as possible. Where a guide's
model is a ``flaxen.linen`` network, the snippet runs twice: with a small
hand-written model exposing the same ``init``/``apply`` interface (always),
and with the guide's own linen model (skipped until ``flaxen.linen`` and its
layers are installed and working).
"""

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from flaxen import jax_utils, struct, traverse_util
from flaxen.core import FrozenDict, freeze, pop
from flaxen.training import lr_schedule, train_state

# -- a tiny model with the Module.init / Module.apply interface ------------------------


class TinyClassifier:
    """Flattens the image, one dense layer; ``init``/``apply`` like a linen Module."""

    num_classes = 10

    def init(self, rng, x):
        features = int(np.prod(x.shape[1:]))
        kernel = jax.random.normal(rng, (features, self.num_classes)) * 0.1
        return {"params": {"dense": {"kernel": kernel, "bias": jnp.zeros(self.num_classes)}}}

    def apply(self, variables, x):
        p = variables["params"]["dense"]
        return x.reshape(x.shape[0], -1) @ p["kernel"] + p["bias"][None]


def linen_or_skip():
    """flaxen.linen with working layers, or skip the test until it lands."""
    nn = pytest.importorskip("flaxen.linen")
    try:
        for name in ("Dense", "Conv", "BatchNorm", "Dropout", "avg_pool", "relu"):
            getattr(nn, name)
        nn.Dense(2).init(jax.random.key(0), jnp.ones((1, 3)))
    except Exception as error:
        pytest.skip(f"flaxen.linen layers are not usable yet: {type(error).__name__}: {error}")
    return nn


def linen_cnn():
    nn = linen_or_skip()

    class CNN(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Conv(features=4, kernel_size=(3, 3))(x)
            x = nn.relu(x)
            x = nn.avg_pool(x, window_shape=(2, 2), strides=(2, 2))
            x = x.reshape((x.shape[0], -1))
            x = nn.Dense(features=10)(x)
            return x

    return CNN


def datasets(n_train=64, n_test=32):
    rng = np.random.RandomState(0)

    def make(n):
        return {
            "image": rng.rand(n, 8, 8, 1).astype(np.float32),
            "label": rng.randint(0, 10, n).astype(np.int32),
        }

    return make(n_train), make(n_test)


def compute_metrics(logits, labels):
    loss = jnp.mean(optax.softmax_cross_entropy(logits, jax.nn.one_hot(labels, 10)))
    return {"loss": loss, "accuracy": jnp.mean(jnp.argmax(logits, -1) == labels)}


# -- Learning rate scheduling ----------------------------------------------------------


class Config:
    warmup_epochs = 1
    num_epochs = 3
    learning_rate = 0.1
    momentum = 0.9


def create_learning_rate_fn(config, base_learning_rate, steps_per_epoch):
    """Creates learning rate schedule."""
    warmup_fn = optax.linear_schedule(
        init_value=0.0,
        end_value=base_learning_rate,
        transition_steps=config.warmup_epochs * steps_per_epoch,
    )
    cosine_epochs = max(config.num_epochs - config.warmup_epochs, 1)
    cosine_fn = optax.cosine_decay_schedule(
        init_value=base_learning_rate, decay_steps=cosine_epochs * steps_per_epoch
    )
    schedule_fn = optax.join_schedules(
        schedules=[warmup_fn, cosine_fn], boundaries=[config.warmup_epochs * steps_per_epoch]
    )
    return schedule_fn


def run_learning_rate_guide(model_cls):
    @functools.partial(jax.jit, static_argnums=2)
    def train_step(state, batch, learning_rate_fn):
        def loss_fn(params):
            logits = model_cls().apply({"params": params}, batch["image"])
            one_hot = jax.nn.one_hot(batch["label"], 10)
            loss = jnp.mean(optax.softmax_cross_entropy(logits, one_hot))
            return loss, logits

        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
        (_, logits), grads = grad_fn(state.params)
        new_state = state.apply_gradients(grads=grads)
        metrics = compute_metrics(logits, batch["label"])
        lr = learning_rate_fn(state.step)
        metrics["learning_rate"] = lr
        return new_state, metrics

    def train_epoch(state, train_ds, batch_size, epoch, learning_rate_fn, rng):
        """Trains for a single epoch."""
        train_ds_size = len(train_ds["image"])
        steps_per_epoch = train_ds_size // batch_size
        perms = jax.random.permutation(rng, len(train_ds["image"]))
        perms = perms[: steps_per_epoch * batch_size]
        perms = perms.reshape((steps_per_epoch, batch_size))
        batch_metrics = []
        for perm in perms:
            batch = {k: v[perm, ...] for k, v in train_ds.items()}
            state, metrics = train_step(state, batch, learning_rate_fn)
            batch_metrics.append(metrics)
        batch_metrics = jax.device_get(batch_metrics)
        epoch_metrics = {
            k: np.mean([metrics[k] for metrics in batch_metrics]) for k in batch_metrics[0]
        }
        return state, epoch_metrics, [m["learning_rate"] for m in batch_metrics]

    def create_train_state(rng, config, learning_rate_fn):
        """Creates initial `TrainState`."""
        cnn = model_cls()
        params = cnn.init(rng, jnp.ones([1, 8, 8, 1]))["params"]
        tx = optax.sgd(learning_rate_fn, config.momentum)
        return train_state.TrainState.create(apply_fn=cnn.apply, params=params, tx=tx)

    config = Config()
    train_ds, _ = datasets()
    batch_size = 16
    steps_per_epoch = len(train_ds["image"]) // batch_size
    learning_rate_fn = create_learning_rate_fn(config, config.learning_rate, steps_per_epoch)
    state = create_train_state(jax.random.PRNGKey(0), config, learning_rate_fn)
    rng = jax.random.PRNGKey(1)
    lrs = []
    for epoch in range(1, config.num_epochs + 1):
        rng, input_rng = jax.random.split(rng)
        state, epoch_metrics, epoch_lrs = train_epoch(
            state, train_ds, batch_size, epoch, learning_rate_fn, input_rng
        )
        lrs += epoch_lrs
        assert np.isfinite(epoch_metrics["loss"])
    assert int(state.step) == config.num_epochs * steps_per_epoch
    # The metrics record the schedule at every step: warmup, then cosine decay.
    np.testing.assert_allclose(
        lrs, [learning_rate_fn(s) for s in range(len(lrs))], rtol=1e-6, atol=1e-9
    )
    assert lrs[0] == 0.0 and max(lrs) == pytest.approx(config.learning_rate)
    return state


def test_learning_rate_scheduling_guide():
    run_learning_rate_guide(TinyClassifier)


def test_learning_rate_scheduling_guide_linen():
    run_learning_rate_guide(linen_cnn())


def test_flaxen_lr_schedules_drive_optax_like_the_optax_ones():
    # The flaxen.training schedules are schedule functions optax accepts too.
    steps_per_epoch = 4
    fn = lr_schedule.create_cosine_learning_rate_schedule(0.1, steps_per_epoch, 3, warmup_length=1)
    state = train_state.TrainState.create(apply_fn=None, params=jnp.ones(2), tx=optax.sgd(fn))
    params = np.ones(2, np.float32)
    for step in range(6):
        state = state.apply_gradients(grads=jnp.ones(2))
        params = params - np.float32(fn(step))
    np.testing.assert_allclose(state.params, params, rtol=1e-6)


# -- Ensembling on multiple devices ----------------------------------------------------


def run_ensemble_guide(model_cls):
    @functools.partial(jax.pmap, static_broadcasted_argnums=(1, 2))
    def create_train_state(rng, learning_rate, momentum):
        cnn = model_cls()
        params = cnn.init(rng, jnp.ones([1, 8, 8, 1]))["params"]
        tx = optax.sgd(learning_rate, momentum)
        return train_state.TrainState.create(apply_fn=cnn.apply, params=params, tx=tx)

    @functools.partial(jax.pmap, axis_name="ensemble")
    def apply_model(state, images, labels):
        def loss_fn(params):
            logits = model_cls().apply({"params": params}, images)
            one_hot = jax.nn.one_hot(labels, 10)
            loss = optax.softmax_cross_entropy(logits=logits, labels=one_hot).mean()
            return loss, logits

        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
        (loss, logits), grads = grad_fn(state.params)
        probs = jax.lax.pmean(jax.nn.softmax(logits), axis_name="ensemble")
        accuracy = jnp.mean(jnp.argmax(probs, -1) == labels)
        return grads, loss, accuracy

    @jax.pmap
    def update_model(state, grads):
        return state.apply_gradients(grads=grads)

    def train_epoch(state, train_ds, batch_size, rng):
        train_ds_size = len(train_ds["image"])
        steps_per_epoch = train_ds_size // batch_size

        perms = jax.random.permutation(rng, len(train_ds["image"]))
        perms = perms[: steps_per_epoch * batch_size]
        perms = perms.reshape((steps_per_epoch, batch_size))

        epoch_loss = []
        epoch_accuracy = []

        for perm in perms:
            batch_images = jax_utils.replicate(train_ds["image"][perm, ...])
            batch_labels = jax_utils.replicate(train_ds["label"][perm, ...])
            grads, loss, accuracy = apply_model(state, batch_images, batch_labels)
            state = update_model(state, grads)
            epoch_loss.append(jax_utils.unreplicate(loss))
            epoch_accuracy.append(jax_utils.unreplicate(accuracy))
        train_loss = np.mean(epoch_loss)
        train_accuracy = np.mean(epoch_accuracy)
        return state, train_loss, train_accuracy

    learning_rate, momentum, batch_size, num_epochs = 0.1, 0.9, 16, 2
    train_ds, test_ds = datasets()
    test_ds = jax_utils.replicate(test_ds)
    rng = jax.random.PRNGKey(0)

    rng, init_rng = jax.random.split(rng)
    state = create_train_state(
        jax.random.split(init_rng, jax.device_count()), learning_rate, momentum
    )
    # Different keys, different members of the ensemble.
    kernels = jax.tree_util.tree_leaves(state.params)[-1]
    assert not np.allclose(kernels[0], kernels[1])

    for _ in range(1, num_epochs + 1):
        rng, input_rng = jax.random.split(rng)
        state, train_loss, train_accuracy = train_epoch(state, train_ds, batch_size, input_rng)  # noqa: RUF059

        _, test_loss, test_accuracy = jax_utils.unreplicate(
            apply_model(state, test_ds["image"], test_ds["label"])
        )
        assert np.isfinite(train_loss) and np.isfinite(test_loss)
        assert 0.0 <= float(test_accuracy) <= 1.0
    assert state.step.shape == (jax.device_count(),)
    np.testing.assert_array_equal(state.step, 2 * (64 // batch_size))
    return state


def test_ensembling_guide():
    run_ensemble_guide(TinyClassifier)


def test_ensembling_guide_linen():
    run_ensemble_guide(linen_cnn())


# -- Transfer learning -----------------------------------------------------------------


def transfer_params():
    rng = np.random.RandomState(0)
    return freeze(
        {
            "backbone": {
                "embeddings": {
                    "class_embedding": jnp.asarray(rng.randn(4), jnp.float32),
                    "patch_embedding": {"kernel": jnp.asarray(rng.randn(2, 4), jnp.float32)},
                },
                "encoder": {"kernel": jnp.asarray(rng.randn(4, 4), jnp.float32)},
            },
            "head": {"bias": jnp.zeros(3), "kernel": jnp.zeros((4, 3))},
        }
    )


def run_transfer_learning_optimization(model_apply, params):
    partition_optimizers = {"trainable": optax.adam(5e-3), "frozen": optax.set_to_zero()}
    param_partitions = freeze(
        traverse_util.path_aware_map(
            lambda path, v: "frozen" if "backbone" in path else "trainable", params
        )
    )
    tx = optax.multi_transform(partition_optimizers, param_partitions)

    # visualize a subset of the param_partitions structure
    flat = list(traverse_util.flatten_dict(param_partitions).items())
    subset = freeze(traverse_util.unflatten_dict(dict(flat[:2] + flat[-2:])))
    assert isinstance(subset, FrozenDict)
    assert subset["head"] == FrozenDict({"bias": "trainable", "kernel": "trainable"})
    for path, label in traverse_util.flatten_dict(subset).items():
        assert label == ("frozen" if path[0] == "backbone" else "trainable")

    from flaxen.training.train_state import TrainState

    state = TrainState.create(apply_fn=model_apply, params=params, tx=tx)
    grads = jax.tree_util.tree_map(jnp.ones_like, params)
    new_state = state.apply_gradients(grads=grads)
    for path, value in traverse_util.flatten_dict(new_state.params).items():
        old = traverse_util.flatten_dict(params)[path]
        if "backbone" in path:
            np.testing.assert_array_equal(value, old)  # frozen
        else:
            assert not np.allclose(value, old)  # trained
    return new_state


def test_transfer_learning_guide_optimization():
    params = transfer_params()
    # Transfering the parameters: unfreeze, update the backbone, freeze again.
    pretrained = jax.tree_util.tree_map(lambda x: x + 1, params["backbone"])
    params = params.unfreeze()
    params["backbone"] = pretrained
    params = freeze(params)
    run_transfer_learning_optimization(lambda v, x: x, params)


def test_transfer_learning_guide_linen():
    nn = linen_or_skip()

    class Backbone(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(4, name="encoder")(x)

    class Classifier(nn.Module):
        num_classes: int
        backbone: nn.Module

        @nn.compact
        def __call__(self, x):
            x = self.backbone(x)
            x = nn.Dense(self.num_classes, name="head", kernel_init=nn.zeros)(x)
            return x

    backbone = Backbone()
    backbone_vars = backbone.init(jax.random.PRNGKey(0), jnp.ones((1, 2)))
    model = Classifier(num_classes=3, backbone=backbone)
    variables = model.init(jax.random.PRNGKey(1), jnp.empty((1, 2)))
    params = freeze(variables["params"])
    params = params.unfreeze()
    params["backbone"] = backbone_vars["params"]
    params = freeze(params)
    run_transfer_learning_optimization(model.apply, params)


# -- Upgrading my codebase to Optax ----------------------------------------------------


def loss(params, batch):
    logits = TinyClassifier().apply({"params": params}, batch["image"])
    return jnp.mean(optax.softmax_cross_entropy(logits, jax.nn.one_hot(batch["label"], 10)))


def get_ds_train():
    train_ds, _ = datasets()
    return [{k: v[i : i + 16] for k, v in train_ds.items()} for i in range(0, 64, 16)]


def optax_guide_loop(tx, params):
    @jax.jit
    def train_step(params, opt_state, batch):
        grads = jax.grad(loss)(params, batch)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return params, opt_state

    opt_state = tx.init(params)
    for batch in get_ds_train():
        params, opt_state = train_step(params, opt_state, batch)
    return params


def train_state_loop(tx, params):
    @jax.jit
    def train_step(state, batch):
        return state.apply_gradients(grads=jax.grad(loss)(state.params, batch))

    state = train_state.TrainState.create(apply_fn=TinyClassifier().apply, params=params, tx=tx)
    for batch in get_ds_train():
        state = train_step(state, batch)
    assert int(state.step) == len(get_ds_train())
    return state.params


def assert_close(a, b):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7)


PARAMS = TinyClassifier().init(jax.random.PRNGKey(0), jnp.ones((1, 8, 8, 1)))["params"]
learning_rate, momentum, weight_decay, grad_clip_norm = 0.1, 0.9, 1e-2, 0.5


def test_optax_guide_replacing_flax_optim():
    tx = optax.sgd(learning_rate, momentum)
    # TrainState bundles exactly the guide's params / opt_state loop.
    assert_close(optax_guide_loop(tx, PARAMS), train_state_loop(tx, PARAMS))


def test_optax_guide_composable_gradient_transformations():
    tx = optax.chain(optax.trace(decay=momentum), optax.scale(-learning_rate))
    assert_close(
        train_state_loop(tx, PARAMS), train_state_loop(optax.sgd(learning_rate, momentum), PARAMS)
    )


def test_optax_guide_weight_decay():
    tx = optax.chain(
        optax.scale_by_adam(),
        optax.add_decayed_weights(weight_decay),
        optax.scale(-learning_rate),
    )
    # add_decayed_weights reads the params: apply_gradients passes them to tx.update.
    expected = train_state_loop(optax.adamw(learning_rate, weight_decay=weight_decay), PARAMS)
    assert_close(train_state_loop(tx, PARAMS), expected)


def test_optax_guide_gradient_clipping():
    def train_step_flax_optim_style(params, batch):
        grads = jax.grad(loss)(params, batch)
        grads_flat, _ = jax.tree_util.tree_flatten(grads)
        global_l2 = jnp.sqrt(sum([jnp.vdot(p, p) for p in grads_flat]))
        g_factor = jnp.minimum(1.0, grad_clip_norm / global_l2)
        return jax.tree_util.tree_map(lambda g: g * g_factor, grads)

    tx = optax.chain(
        optax.clip_by_global_norm(grad_clip_norm),
        optax.trace(decay=momentum),
        optax.scale(-learning_rate),
    )
    manual = train_state.TrainState.create(
        apply_fn=None, params=PARAMS, tx=optax.sgd(learning_rate, momentum)
    )
    for batch in get_ds_train():
        manual = manual.apply_gradients(grads=train_step_flax_optim_style(manual.params, batch))
    assert_close(train_state_loop(tx, PARAMS), manual.params)


def test_optax_guide_learning_rate_schedules():
    schedule = lr_schedule.create_stepped_learning_rate_schedule(learning_rate, 2, [[1, 0.1]])
    tx = optax.chain(
        optax.trace(decay=momentum),
        # Note that we still want a negative value for scaling the updates!
        optax.scale_by_schedule(lambda step: -schedule(step)),
    )

    def train_step(step, params, velocity, batch):  # the flax.optim loop, by hand
        grads = jax.grad(loss)(params, batch)
        velocity = jax.tree_util.tree_map(lambda v, g: g + momentum * v, velocity, grads)
        params = jax.tree_util.tree_map(lambda p, v: p - schedule(step) * v, params, velocity)
        return step + 1, params, velocity

    step, params, velocity = 0, PARAMS, jax.tree_util.tree_map(jnp.zeros_like, PARAMS)
    for batch in get_ds_train():
        step, params, velocity = train_step(step, params, velocity, batch)
    assert_close(train_state_loop(tx, PARAMS), params)


def test_optax_guide_multiple_optimizers():
    params = PARAMS
    kernels = traverse_util.ModelParamTraversal(lambda p, _: "kernel" in p)
    biases = traverse_util.ModelParamTraversal(lambda p, _: "bias" in p)

    all_false = jax.tree_util.tree_map(lambda _: False, params)
    kernels_mask = kernels.update(lambda _: True, all_false)
    biases_mask = biases.update(lambda _: True, all_false)

    tx = optax.chain(
        optax.trace(decay=momentum),
        optax.masked(optax.scale(-learning_rate), kernels_mask),
        optax.masked(optax.scale(-learning_rate * 0.1), biases_mask),
    )
    state = train_state.TrainState.create(apply_fn=None, params=params, tx=tx)
    grads = jax.tree_util.tree_map(jnp.ones_like, params)
    state = state.apply_gradients(grads=grads)
    np.testing.assert_allclose(
        state.params["dense"]["kernel"], params["dense"]["kernel"] - learning_rate, rtol=1e-6
    )
    np.testing.assert_allclose(
        state.params["dense"]["bias"], params["dense"]["bias"] - learning_rate * 0.1, rtol=1e-6
    )


# -- TrainState with more fields: batch norm, dropout, metrics -------------------------


class BatchStatsModel:
    """Dense layer that keeps a running mean in 'batch_stats', like BatchNorm."""

    def init(self, rng, x):
        return {
            "params": {"kernel": jax.random.normal(rng, (x.shape[-1], 2))},
            "batch_stats": {"mean": jnp.zeros(x.shape[-1])},
        }

    def apply(self, variables, x, train=False, mutable=False):
        mean = variables["batch_stats"]["mean"]
        if train:
            mean = 0.9 * mean + 0.1 * jnp.mean(x, axis=0)
        y = (x - mean[None]) @ variables["params"]["kernel"]
        if mutable:
            return y, {"batch_stats": {"mean": mean}}
        return y


def run_batch_norm_guide(mlp, x, labels):
    class TrainState(train_state.TrainState):
        batch_stats: Any

    variables = mlp.init(jax.random.PRNGKey(0), x)
    params, batch_stats = variables["params"], variables["batch_stats"]
    state = TrainState.create(
        apply_fn=mlp.apply,
        params=params,
        batch_stats=batch_stats,
        tx=optax.adam(1e-3),
    )

    @jax.jit
    def train_step(state: TrainState, batch):
        """Train for a single step."""

        def loss_fn(params):
            logits, updates = state.apply_fn(
                {"params": params, "batch_stats": state.batch_stats},
                x=batch["image"],
                train=True,
                mutable=["batch_stats"],
            )
            loss = optax.softmax_cross_entropy_with_integer_labels(
                logits=logits, labels=batch["label"]
            ).mean()
            return loss, (logits, updates)

        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
        (loss, (logits, updates)), grads = grad_fn(state.params)
        state = state.apply_gradients(grads=grads)
        state = state.replace(batch_stats=updates["batch_stats"])
        metrics = {
            "loss": loss,
            "accuracy": jnp.mean(jnp.argmax(logits, -1) == batch["label"]),
        }
        return state, metrics

    @jax.jit
    def eval_step(state: TrainState, batch):
        logits = state.apply_fn(
            {"params": state.params, "batch_stats": state.batch_stats},
            x=batch["image"],
            train=False,
        )
        return optax.softmax_cross_entropy_with_integer_labels(
            logits=logits, labels=batch["label"]
        ).mean()

    batch = {"image": x, "label": labels}
    before = jax.tree_util.tree_leaves(state.batch_stats)
    for _ in range(3):
        state, metrics = train_step(state, batch)
    assert int(state.step) == 3 and np.isfinite(metrics["loss"])
    after = jax.tree_util.tree_leaves(state.batch_stats)
    assert any(not np.allclose(a, b) for a, b in zip(before, after))
    assert np.isfinite(eval_step(state, batch))


def test_batch_norm_guide_train_state():
    x = jnp.asarray(np.random.RandomState(0).randn(8, 3), jnp.float32)
    run_batch_norm_guide(BatchStatsModel(), x, jnp.arange(8) % 2)


def test_batch_norm_guide_train_state_linen():
    nn = linen_or_skip()

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool = False):
            x = nn.Dense(features=4)(x)
            x = nn.BatchNorm(use_running_average=not train)(x)
            x = nn.relu(x)
            x = nn.Dense(features=2)(x)
            return x

    x = jnp.asarray(np.random.RandomState(0).randn(8, 3), jnp.float32)
    run_batch_norm_guide(MLP(), x, jnp.arange(8) % 2)


class DropoutModel:
    def init(self, rng, x, training=False):
        return {"params": {"kernel": jax.random.normal(rng, (x.shape[-1], 2))}}

    def apply(self, variables, x, training=False, rngs=None):
        if training:
            keep = jax.random.bernoulli(rngs["dropout"], 0.5, x.shape)
            x = jnp.where(keep, x / 0.5, 0.0)
        return x @ variables["params"]["kernel"]


def run_dropout_guide(my_model, x, labels):
    class TrainState(train_state.TrainState):
        key: jax.Array

    root_key = jax.random.key(seed=0)
    main_key, params_key, dropout_key = jax.random.split(key=root_key, num=3)  # noqa: RUF059
    # Dropout is disabled with `training=False` (that is, `deterministic=True`).
    variables = my_model.init(params_key, x, training=False)
    params = variables["params"]
    state = TrainState.create(
        apply_fn=my_model.apply,
        params=params,
        key=dropout_key,
        tx=optax.adam(1e-3),
    )
    used_keys = []

    @jax.jit
    def train_step(state: TrainState, batch, dropout_key):
        dropout_train_key = jax.random.fold_in(key=dropout_key, data=state.step)

        def loss_fn(params):
            logits = state.apply_fn(
                {"params": params},
                x=batch["image"],
                training=True,
                rngs={"dropout": dropout_train_key},
            )
            loss = optax.softmax_cross_entropy_with_integer_labels(
                logits=logits, labels=batch["label"]
            ).mean()
            return loss, logits

        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
        (loss, logits), grads = grad_fn(state.params)  # noqa: RUF059
        state = state.apply_gradients(grads=grads)
        return state, jax.random.key_data(dropout_train_key)

    batch = {"image": x, "label": labels}
    for _ in range(3):
        state, used = train_step(state, batch, state.key)
        used_keys.append(tuple(np.asarray(used).ravel()))
    assert int(state.step) == 3
    assert len(set(used_keys)) == 3  # a fresh dropout key every step
    assert jnp.array_equal(jax.random.key_data(state.key), jax.random.key_data(dropout_key))


def test_dropout_guide_train_state():
    x = jnp.ones((4, 3))
    run_dropout_guide(DropoutModel(), x, jnp.arange(4) % 2)


def test_dropout_guide_train_state_linen():
    nn = linen_or_skip()

    class MyModel(nn.Module):
        num_neurons: int = 2

        @nn.compact
        def __call__(self, x, training: bool):
            x = nn.Dense(self.num_neurons)(x)
            x = nn.Dropout(rate=0.5, deterministic=not training)(x)
            return x

    run_dropout_guide(MyModel(), jnp.ones((4, 3)), jnp.arange(4) % 2)


def test_quick_start_train_state_with_metrics():
    @struct.dataclass
    class Metrics:
        loss_sum: jax.Array
        count: jax.Array

        @classmethod
        def empty(cls):
            return cls(loss_sum=jnp.zeros(()), count=jnp.zeros((), jnp.int32))

        def merge(self, loss):
            return self.replace(loss_sum=self.loss_sum + loss, count=self.count + 1)

    class TrainState(train_state.TrainState):
        metrics: Metrics

    def create_train_state(module, rng, learning_rate, momentum):
        """Creates an initial `TrainState`."""
        params = module.init(rng, jnp.ones([1, 8, 8, 1]))["params"]
        tx = optax.sgd(learning_rate, momentum)
        return TrainState.create(
            apply_fn=module.apply, params=params, tx=tx, metrics=Metrics.empty()
        )

    @jax.jit
    def train_step(state, batch):
        def loss_fn(params):
            logits = state.apply_fn({"params": params}, batch["image"])
            return optax.softmax_cross_entropy_with_integer_labels(
                logits=logits, labels=batch["label"]
            ).mean()

        loss_value, grads = jax.value_and_grad(loss_fn)(state.params)
        state = state.apply_gradients(grads=grads)
        return state.replace(metrics=state.metrics.merge(loss_value))

    state = create_train_state(TinyClassifier(), jax.random.PRNGKey(0), 0.01, 0.9)
    for batch in get_ds_train():
        state = train_step(state, batch)
    assert int(state.metrics.count) == int(state.step) == 4
    assert float(state.metrics.loss_sum) > 0


# -- Managing Parameters and State -----------------------------------------------------


# The guide's BiasAdderWithRunningMean adds a (1, n) mean to an (n,) one: it relies on
# NumPy rank promotion, which the test suite otherwise forbids.
@jax.numpy_rank_promotion("allow")
def test_managing_params_and_state_guide_linen():
    nn = linen_or_skip()

    class BiasAdderWithRunningMean(nn.Module):
        momentum: float = 0.9

        @nn.compact
        def __call__(self, x):
            is_initialized = self.has_variable("batch_stats", "mean")
            mean = self.variable("batch_stats", "mean", jnp.zeros, x.shape[1:])
            bias = self.param("bias", lambda rng, shape: jnp.zeros(shape), x.shape[1:])
            if is_initialized:
                mean.value = self.momentum * mean.value + (1.0 - self.momentum) * jnp.mean(
                    x, axis=0, keepdims=True
                )
            return mean.value + bias

    tx = optax.sgd(learning_rate=0.02)

    def update_step(apply_fn, x, opt_state, params, state):
        def loss(params):
            y, updated_state = apply_fn({"params": params, **state}, x, mutable=list(state.keys()))
            l = ((x - y) ** 2).sum()  # noqa: E741
            return l, updated_state

        (l, updated_state), grads = jax.value_and_grad(loss, has_aux=True)(params)  # noqa: E741, RUF059
        updates, opt_state = tx.update(grads, opt_state)
        params = optax.apply_updates(params, updates)
        return opt_state, params, updated_state

    dummy_input = jnp.ones((1, 3))
    model = BiasAdderWithRunningMean()
    variables = model.init(jax.random.PRNGKey(0), dummy_input)
    # Split state and params (which are updated by optimizer).
    state, params = pop(variables, "params")
    del variables
    opt_state = tx.init(params)
    init_state, init_params = state, params
    for _ in range(3):
        opt_state, params, state = update_step(model.apply, dummy_input, opt_state, params, state)

    # The same loop, with the state kept in a TrainState subclass.
    class TrainState(train_state.TrainState):
        batch_stats: Any

    ts = TrainState.create(
        apply_fn=model.apply, params=init_params, tx=tx, batch_stats=init_state["batch_stats"]
    )
    for _ in range(3):

        def loss_fn(params, ts=ts):
            y, updated = ts.apply_fn(
                {"params": params, "batch_stats": ts.batch_stats},
                dummy_input,
                mutable=["batch_stats"],
            )
            return ((dummy_input - y) ** 2).sum(), updated

        grads, updated = jax.grad(loss_fn, has_aux=True)(ts.params)
        ts = ts.apply_gradients(grads=grads, batch_stats=updated["batch_stats"])
    assert_close(ts.params, params)
    assert_close(ts.batch_stats, state["batch_stats"])


def test_managing_params_and_state_guide_vmap_linen():
    nn = linen_or_skip()

    class MLP(nn.Module):
        hidden_size: int
        out_size: int

        @nn.compact
        def __call__(self, x, train=False):
            norm = functools.partial(
                nn.BatchNorm,
                use_running_average=not train,
                momentum=0.9,
                epsilon=1e-5,
                axis_name="batch",  # Name batch dim
            )
            x = nn.Dense(self.hidden_size)(x)
            x = norm()(x)
            x = nn.relu(x)
            x = nn.Dense(self.hidden_size)(x)
            x = norm()(x)
            x = nn.relu(x)
            y = nn.Dense(self.out_size)(x)
            return y

    tx = optax.sgd(learning_rate=0.02)

    def update_step(apply_fn, x_batch, y_batch, opt_state, params, state):
        def batch_loss(params):
            def loss_fn(x, y):
                pred, updated_state = apply_fn(
                    {"params": params, **state}, x, mutable=list(state.keys())
                )
                return (pred - y) ** 2, updated_state

            loss, updated_state = jax.vmap(
                loss_fn,
                out_axes=(0, None),  # Do not vmap `updated_state`.
                axis_name="batch",  # Name batch dim
            )(x_batch, y_batch)  # vmap only `x`, `y`, but not `state`.
            return jnp.mean(loss), updated_state

        (loss, updated_state), grads = jax.value_and_grad(batch_loss, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state)
        params = optax.apply_updates(params, updates)
        return opt_state, params, updated_state, loss

    X = jnp.asarray(np.random.RandomState(0).randn(8, 3), jnp.float32)
    Y = jnp.sum(X, axis=-1, keepdims=True)
    model = MLP(hidden_size=10, out_size=1)
    variables = model.init(jax.random.PRNGKey(0), X)
    state, params = pop(variables, "params")
    del variables
    opt_state = tx.init(params)
    losses = []
    for _ in range(5):
        opt_state, params, state, loss = update_step(model.apply, X, Y, opt_state, params, state)
        losses.append(float(loss))
    assert losses[-1] < losses[0]
