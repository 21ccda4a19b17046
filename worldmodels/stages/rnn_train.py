"""rnn_train: train M on series/*.npz (teacher forcing on sampled z), as the reference.

Two ways of cutting sequences (the experiment's `rnn_sequences`):

- ``stream`` (doomrnn): every epoch the episodes are shuffled and concatenated, the stream is split
  into `batch` rows and cut into windows of `seq_len` inputs (+1 target frame, windows overlap by one
  frame so no transition is lost). The LSTM state is carried from one window to the next and zeroed
  wherever the input's restart flag (first frame of an episode) is 1.
- ``episodes`` (carracing): every step takes `batch` random episodes (a random window of
  `seq_len` + 1 frames from each) and starts from a zero state.

z inputs are resampled from the stored (mu, logvar) for every batch. The target of input step t is
z_{t+1} and, for experiments that predict done, the episode's done flag after action t. Adam with
the experiment's learning-rate schedule and gradients clipped by value. The model and optimizer are
checkpointed at the end of every epoch; re-running the same command continues from there and gives
the same result as an unbroken run (epoch e's data order comes from the seed (seed, e)). A NaN loss
stops training before any weight is written.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from worldmodels.data import DataFileError, SkipCounter, list_npz, read_series, require_one_valid
from worldmodels.experiments import Experiment
from worldmodels.loading import load_rnn
from worldmodels.mdnrnn import MDNRNN, mixture_nll
from worldmodels.stages.common import (
    StageError,
    already_trained,
    base_parser,
    init_digest,
    parse,
    positive_int,
    require_weight_file,
    write_settings,
)
from worldmodels.weights import load_weights, save_weights

# x (B, T, in), z_next (B, T, Z), done_next (B, T), reward_next (B, T), reset state first
Batch = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]


def load_all_series(folder: Path, exp: Experiment) -> list[dict[str, np.ndarray]]:
    """Every valid series file in `folder` (invalid ones skipped and counted on stderr; a folder
    without a valid one is refused in one line)."""
    paths = list_npz(folder)
    if not paths:
        raise StageError(f"no series files in {folder}/ (made by: series.py)")

    def read(path: Path) -> dict[str, np.ndarray]:
        return read_series(path, exp.z_size, exp.action_size)

    require_one_valid(paths, read, folder, "series", "series.py")
    episodes, skips = [], SkipCounter()
    for path in paths:
        try:
            episodes.append(read(path))
        except DataFileError as err:
            skips.skip(path, err)
    print(f"{folder}: {len(episodes)} episodes, {sum(len(e['mu']) for e in episodes)} frames, "
          f"{skips.count} bad files skipped", flush=True)
    return episodes


def _sample_z(mu: np.ndarray, logvar: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    mu, logvar = mu.astype(np.float32), logvar.astype(np.float32)
    return mu + np.exp(0.5 * logvar) * rng.standard_normal(mu.shape, dtype=np.float32)


def _inputs(exp: Experiment, z: np.ndarray, action: np.ndarray,
            restart: np.ndarray) -> np.ndarray:
    parts = [z, action] + ([restart[..., None]] if exp.use_restart else [])
    return np.concatenate(parts, axis=-1).astype(np.float32)


def stream_epoch(exp: Experiment, episodes: list[dict], batch: int, seq_len: int,
                 rng: np.random.Generator) -> Iterator[Batch]:
    """One epoch of the `stream` scheme: windows (batch, seq_len, ...) with carried state."""
    order = rng.permutation(len(episodes))
    cat = {k: np.concatenate([episodes[i][k] for i in order])
           for k in ("mu", "logvar", "action", "done", "reward")}
    restart = np.concatenate([np.arange(len(episodes[i]["mu"])) == 0 for i in order])
    row_len = len(restart) // batch
    if row_len < seq_len + 1:
        raise StageError(f"{len(restart)} frames are too few for {batch} rows of {seq_len + 1}; "
                         "lower --batch-size or --seq-len, or record more episodes")

    def rows(a: np.ndarray) -> np.ndarray:
        return a[: batch * row_len].reshape(batch, row_len, *a.shape[1:])

    mu, logvar, action, done, reward, restart = (rows(a) for a in (
        cat["mu"], cat["logvar"], cat["action"], cat["done"], cat["reward"],
        restart.astype(np.float32)))
    for k, start in enumerate(range(0, row_len - seq_len, seq_len)):
        window = slice(start, start + seq_len + 1)
        step = slice(start, start + seq_len)
        z = _sample_z(mu[:, window], logvar[:, window], rng)
        x = _inputs(exp, z[:, :-1], action[:, step], restart[:, step])
        yield x, z[:, 1:], done[:, step].astype(np.float32), reward[:, step], k == 0


def episodes_epoch(exp: Experiment, episodes: list[dict], batch: int, seq_len: int,
                   rng: np.random.Generator) -> Iterator[Batch]:
    """One epoch of the `episodes` scheme: len(episodes) // batch batches of random episode windows
    (batch, seq_len, ...), each from a zero state."""
    usable = [e for e in episodes if len(e["mu"]) >= seq_len + 1]
    if not usable:
        raise StageError(f"no episode has the {seq_len + 1} frames a sequence needs; "
                         "lower --seq-len")
    for _ in range(max(1, len(usable) // batch)):
        picks = rng.integers(0, len(usable), batch)
        xs, zs, ds, rs = [], [], [], []
        for i in picks:
            e = usable[i]
            start = rng.integers(0, len(e["mu"]) - seq_len)
            window, step = slice(start, start + seq_len + 1), slice(start, start + seq_len)
            z = _sample_z(e["mu"][window], e["logvar"][window], rng)
            xs.append(_inputs(exp, z[:-1], e["action"][step], np.zeros(seq_len)))
            zs.append(z[1:])
            ds.append(e["done"][step].astype(np.float32))
            rs.append(e["reward"][step])
        yield np.stack(xs), np.stack(zs), np.stack(ds), np.stack(rs), True


def epoch_batches(exp: Experiment, episodes: list[dict], batch: int, seq_len: int, seed: int,
                  epoch: int) -> Iterator[Batch]:
    """The batches of epoch `epoch`, drawn with the generator seeded (seed, epoch)."""
    rng = np.random.default_rng([seed, epoch])
    scheme = stream_epoch if exp.rnn_sequences == "stream" else episodes_epoch
    return scheme(exp, episodes, batch, seq_len, rng)


def teacher_forced_metrics(exp: Experiment, rnn: MDNRNN, episodes: list[dict],
                           batch: int = 128) -> dict[str, float]:
    """How well M predicts held-out episodes, fed their true z = mu (no sampling) and actions.

    Returns z_nll (mean negative log-likelihood per z dimension of each next frame, nats), and for
    experiments that predict done: deaths (episodes that end in a death), death_recall (the share
    of them where M's done logit is > 0 at the final step, i.e. where the dream's threshold death
    would fire) and false_alarms (the share of the other steps where it is > 0).
    """
    nll_sum, nll_count, hits, deaths, alarms, others = 0.0, 0, 0, 0, 0, 0
    by_length = sorted(episodes, key=lambda e: len(e["mu"]))
    for first in range(0, len(by_length), batch):
        group = by_length[first: first + batch]
        lengths = np.array([len(e["mu"]) for e in group])
        z = np.zeros((len(group), lengths.max(), exp.z_size), np.float32)
        action = np.zeros((len(group), lengths.max(), exp.action_size), np.float32)
        for i, e in enumerate(group):
            z[i, : lengths[i]], action[i, : lengths[i]] = e["mu"], e["action"]
        died = np.array([bool(e["done"][-1]) for e in group])
        h, c = rnn.initial_state(len(group))
        for t in range(lengths.max()):
            restart = np.full(len(group), float(t == 0), np.float32)
            h, c = rnn.step(_inputs(exp, z[:, t], action[:, t], restart), h, c)
            mix = rnn.mixture(h)
            has_next = t + 1 < lengths
            if has_next.any():
                nll = mixture_nll(mix, z[:, min(t + 1, z.shape[1] - 1)]).mean(axis=1)
                nll_sum += float(nll[has_next].sum())
                nll_count += int(has_next.sum())
            if mix.done_logit is not None:
                fired = mix.done_logit > 0
                final = (t == lengths - 1) & died
                hits += int((fired & final).sum())
                deaths += int(final.sum())
                alarms += int((fired & (t < lengths) & ~final).sum())
                others += int(((t < lengths) & ~final).sum())
    metrics = {"z_nll": nll_sum / max(nll_count, 1)}
    if exp.predict_done:
        metrics.update(deaths=float(deaths), death_recall=hits / max(deaths, 1),
                       false_alarms=alarms / max(others, 1))
    return metrics


def evaluate(exp: Experiment, rnn_path: str, series: Path) -> None:
    """Print :func:`teacher_forced_metrics` of the M file `rnn_path` on every episode in `series`."""
    require_weight_file(rnn_path, "M", "rnn_train.py")
    episodes = load_all_series(series, exp)
    m = teacher_forced_metrics(exp, load_rnn(exp, rnn_path), episodes)
    line = f"{rnn_path} on {series}/: z NLL per dimension {m['z_nll']:.4f}"
    if "deaths" in m:
        line += (f"; done logit > 0 at {100 * m['death_recall']:.1f}% of {int(m['deaths'])} deaths "
                 f"and at {100 * m['false_alarms']:.2f}% of the other steps")
    print(line, flush=True)


def _parser(exp_name: str):
    parser = base_parser("train M (MDN-RNN) on series/", exp_name)
    parser.add_argument("--steps", dest="rnn_steps", type=positive_int, default=None,
                        help="optimiser steps (default: the preset's)")
    parser.add_argument("--batch-size", dest="rnn_batch_size", type=positive_int, default=None)
    parser.add_argument("--seq-len", dest="rnn_seq_len", type=positive_int, default=None,
                        help="input steps per sequence")
    parser.add_argument("--series", default=None, help="series folder (default: series)")
    parser.add_argument("--out", default=None, help="M weight file (default: the experiment's)")
    parser.add_argument("--tensorboard", default="tb/rnn", help="TensorBoard log folder")
    parser.add_argument("--predict-reward", action="store_true",
                        help="M also predicts each step's reward (needed by train.py --dream)")
    parser.add_argument("--init", default=None,
                        help="start from this M weight file instead of random weights (iterative "
                        "training: retrain M on the old and the new episodes); fresh optimizer")
    parser.add_argument("--evaluate", default=None, metavar="M",
                        help="train nothing: print how well the M file M predicts the episodes of "
                        "--series (teacher-forced on z = mu; use episodes M never trained on)")
    return parser


def main(exp_name: str, argv: list[str] | None = None) -> None:
    """Command-line entry of rnn_train.py."""
    args, exp, _ = parse(_parser(exp_name), argv, exp_name)
    if args.evaluate:
        evaluate(exp, args.evaluate, Path(args.series or exp.series_dir))
        return
    if args.predict_reward:
        exp = exp.with_overrides(predict_reward=True)
    out = Path(args.out or exp.rnn_path)
    checkpoint = out.with_name("rnn_train.ckpt.npz")
    args.init_digest = init_digest(args.init, "M", "rnn_train.py")
    if already_trained(out, checkpoint, steps=args.rnn_steps, init=args.init_digest):
        print(f"{out}: already trained for {args.rnn_steps} steps; nothing to do", flush=True)
        return
    episodes = load_all_series(Path(args.series or exp.series_dir), exp)
    write_settings(out.with_name("rnn_train.settings.json"), exp, args)
    train(exp, args, episodes, out, checkpoint)


def train(exp: Experiment, args, episodes: list[dict], out: Path, checkpoint: Path) -> None:
    """Run args.rnn_steps optimiser steps with per-epoch checkpoints, then write the weight file."""
    import keras
    import tensorflow as tf

    from worldmodels.keras_models import (
        MDN_LOSS_NAMES,
        MDNRNN,
        load_training_checkpoint,
        mdn_loss,
        rnn_optimizer,
        save_training_checkpoint,
    )

    keras.utils.set_random_seed(args.seed)
    model = MDNRNN(exp)
    optimizer = rnn_optimizer(exp)
    optimizer.build(model.trainable_variables)
    step, epoch = 0, 0
    if checkpoint.exists():
        meta = load_training_checkpoint(checkpoint, model, optimizer)
        step, epoch = meta["step"], meta["epoch"]
        print(f"resuming {checkpoint} at step {step} (epoch {epoch})", flush=True)
    elif args.init:
        model.set_weight_dict(load_weights(args.init, "rnn", exp, made_by="rnn_train.py"))
        print(f"starting from {args.init}", flush=True)

    @tf.function(reduce_retracing=True)
    def train_step(x, z_next, done_next, reward_next, h, c):
        with tf.GradientTape() as tape:
            out_seq, h2, c2 = model(x, initial_state=[h, c], training=True)
            losses = mdn_loss(exp, out_seq, z_next, done_next, reward_next)
        grads = tape.gradient(losses[0], model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return losses, h2, c2

    writer = tf.summary.create_file_writer(args.tensorboard)
    zeros = np.zeros((args.rnn_batch_size, exp.rnn_size), np.float32)
    start, start_step = time.perf_counter(), step
    while step < args.rnn_steps:
        sums = np.zeros(len(MDN_LOSS_NAMES))
        n = 0
        h = c = zeros
        for *batch, reset in epoch_batches(exp, episodes, args.rnn_batch_size, args.rnn_seq_len,
                                           args.seed, epoch):
            if reset:
                h = c = zeros
            losses, h, c = train_step(*batch, h, c)
            losses = np.array([float(v) for v in losses])
            if not np.all(np.isfinite(losses)):
                raise StageError(f"M's loss became NaN at step {step + 1}; no weights written "
                                 f"(last good epoch is in {checkpoint})")
            step += 1
            sums += losses
            n += 1
            with writer.as_default(step=step):
                for name, value in zip(MDN_LOSS_NAMES, losses, strict=True):
                    tf.summary.scalar(name, value)
            if step >= args.rnn_steps:
                break
        epoch += 1
        save_training_checkpoint(checkpoint, model, optimizer, {"step": step, "epoch": epoch})
        rate = (step - start_step) / (time.perf_counter() - start)
        means = "  ".join(f"{k} {v:.4f}" for k, v in zip(MDN_LOSS_NAMES, sums / max(n, 1),
                                                             strict=True))
        print(f"epoch {epoch}  step {step}/{args.rnn_steps}  {means}  lr "
              f"{float(optimizer.learning_rate):.2e}  {rate:.2f} steps/s", flush=True)
    writer.close()
    save_weights(out, "rnn", exp, model.weight_dict(), extra={"steps": args.rnn_steps,
                                                              "seed": args.seed,
                                                              "init": args.init_digest})
    checkpoint.unlink(missing_ok=True)
    print(f"{out}: M trained for {args.rnn_steps} steps in {time.perf_counter() - start:.0f}s",
          flush=True)
