"""vae_train: train V on the frames of record/*.npz, streamed from disk with bounded memory.

Batches come from :class:`worldmodels.data.FrameStream` (a shuffle buffer of at most
--buffer-frames frames), so memory does not grow with the dataset. Adam at 1e-4, batch 100 as the
reference. After every epoch the model and optimizer are checkpointed; re-running the same command
resumes after the last finished epoch. A NaN loss stops training before any weight is written.
With --init, training starts from an earlier V weight file (iterative rounds).
Outputs: the V weight file (tf_models/vae.npz or vae/vae.npz), TensorBoard logs in tb/vae, and a
PNG of frames (top row) and their reconstructions (bottom row) beside the weights.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np

from worldmodels.data import SkipCounter, iter_episodes, list_npz, read_episode, require_one_valid
from worldmodels.experiments import Experiment
from worldmodels.loading import load_vae
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
from worldmodels.vae import VAE
from worldmodels.weights import load_weights, save_weights


def _parser(exp_name: str):
    parser = base_parser("train V (ConvVAE) on record/", exp_name)
    parser.add_argument("--epochs", type=positive_int, default=None, help="default: the preset's")
    parser.add_argument("--batch-size", dest="vae_batch_size", type=positive_int, default=None)
    parser.add_argument("--learning-rate", type=float, default=None, help="default: 1e-4")
    parser.add_argument("--record", default=None, help="episode folder (default: record)")
    parser.add_argument("--out", default=None, help="V weight file (default: the experiment's)")
    parser.add_argument("--max-episodes", dest="vae_episodes", type=positive_int, default=None,
                        help="use the first N episode files by name (default: the preset's; "
                        "the reference used 10k)")
    parser.add_argument("--buffer-frames", type=positive_int, default=20000,
                        help="frames held in the shuffle buffer (bounds memory)")
    parser.add_argument("--tensorboard", default="tb/vae", help="TensorBoard log folder")
    parser.add_argument("--evaluate", default=None, metavar="V",
                        help="train nothing: print V's reconstruction error on the frames of "
                        "--record (use episodes V never trained on)")
    parser.add_argument("--init", default=None,
                        help="start from this V weight file instead of random weights (iterative "
                        "training: go on training the last round's V on old and new episodes); "
                        "fresh optimizer")
    return parser


def save_reconstructions(path: Path, vae: VAE, frames: np.ndarray) -> None:
    """PNG with `frames` (N, 64, 64, 3) uint8 on top and V's reconstructions (from mu) below."""
    from PIL import Image

    recon = (vae.decode(vae.encode(frames)[0]) * 255.0).round().astype(np.uint8)
    grid = np.concatenate([np.concatenate(list(frames), 1), np.concatenate(list(recon), 1)], 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2), Image.NEAREST).save(path)


def sample_frames(paths: list[Path], count: int, skips: SkipCounter) -> np.ndarray | None:
    """Up to `count` frames spread over the first valid episodes in `paths`, (n, 64, 64, 3) uint8;
    None when no file is valid any more. Invalid files go to `skips`."""
    frames = []
    for _, episode in iter_episodes(paths, skips):
        obs = episode["obs"]
        frames.extend(obs[np.linspace(0, len(obs) - 1, 2).astype(int)])
        if len(frames) >= count:
            break
    return np.stack(frames[:count]) if frames else None


def evaluate(exp: Experiment, vae_path: str, paths: list[Path], record: Path) -> None:
    """Print the mean and median per-frame reconstruction error (as r_loss) of the V file
    `vae_path` over every frame of the episodes `paths`; invalid files are counted and skipped."""
    require_weight_file(vae_path, "V", "vae_train.py")
    vae = load_vae(exp, vae_path)
    skips = SkipCounter()
    errors = [vae.reconstruction_error(episode["obs"]) for _, episode in iter_episodes(paths, skips)]
    if not errors:
        raise StageError(f"no valid episode in {record}/ ({skips.count} skipped as invalid)")
    err = np.concatenate(errors)
    print(f"{vae_path} on {record}/: reconstruction error per frame (sum of squares, as r_loss) "
          f"mean {err.mean():.2f}, median {np.median(err):.2f} over {len(err)} frames of "
          f"{len(errors)} episodes ({skips.count} bad files skipped)", flush=True)


def main(exp_name: str, argv: list[str] | None = None) -> None:
    """Command-line entry of vae_train.py."""
    args, exp, preset = parse(_parser(exp_name), argv, exp_name)
    record = Path(args.record or exp.record_dir)
    paths = list_npz(record)[: args.vae_episodes]
    if args.evaluate:
        evaluate(exp, args.evaluate, paths, record)
        return
    args.epochs = args.epochs or preset.vae_epochs
    args.learning_rate = args.learning_rate or exp.vae_learning_rate
    out = Path(args.out or exp.vae_path)
    checkpoint = out.with_name("vae_train.ckpt.npz")
    if not paths:
        raise StageError(f"no episode files in {record}/ (made by: extract.py)")
    args.init_digest = init_digest(args.init, "V", "vae_train.py")
    if already_trained(out, checkpoint, epochs=args.epochs, init=args.init_digest):
        print(f"{out}: already trained for {args.epochs} epochs; nothing to do", flush=True)
        return
    require_one_valid(paths, read_episode, record, "episode", "extract.py")
    write_settings(out.with_name("vae_train.settings.json"), exp, args)
    train(exp, args, paths, out, checkpoint)


def train(exp: Experiment, args, paths: list[Path], out: Path, checkpoint: Path) -> None:
    """Fit V for args.epochs epochs with per-epoch checkpoints, then write the weight file."""
    import warnings

    import keras
    import tensorflow as tf

    # A streamed dataset has no known length: Keras warns at the end of every first epoch.
    warnings.filterwarnings("ignore", message="Your input ran out of data")
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed")

    from worldmodels.data import FrameStream
    from worldmodels.keras_models import ConvVAE, load_training_checkpoint, save_training_checkpoint

    keras.utils.set_random_seed(args.seed)
    model = ConvVAE(exp.z_size, exp.kl_tolerance, seed=args.seed)
    optimizer = keras.optimizers.Adam(args.learning_rate)
    model.compile(optimizer=optimizer)
    stream = FrameStream(paths, args.vae_batch_size, seed=args.seed,
                         buffer_frames=args.buffer_frames)
    first_epoch = 0
    if checkpoint.exists():
        first_epoch = load_training_checkpoint(checkpoint, model, optimizer)["epoch"]
        print(f"resuming {checkpoint} after epoch {first_epoch}", flush=True)
    elif args.init:
        model.set_weight_dict(load_weights(args.init, "vae", exp, made_by="vae_train.py"))
        print(f"starting from {args.init}", flush=True)
    stream.next_epoch = first_epoch
    dataset = tf.data.Dataset.from_generator(
        stream.epoch, output_signature=tf.TensorSpec((None, 64, 64, 3), tf.uint8)
    ).map(lambda x: tf.cast(x, tf.float32) / 255.0).prefetch(2)

    class EpochCheckpoint(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if not sys.stdout.isatty() and (batch + 1) % 200 == 0:  # a line for log files
                print(f"  batch {batch + 1}: " + "  ".join(
                    f"{k} {v:.4f}" for k, v in (logs or {}).items()), flush=True)

        def on_epoch_end(self, epoch, logs=None):
            # Raised here, outside tf.data, an error stays one line.
            if stream.epoch_episodes == 0:
                raise StageError(f"epoch {epoch + 1} met no valid episode file ("
                                 f"{stream.skips.count} skipped as invalid); the same command "
                                 "resumes after the last finished epoch")
            if stream.epoch_batches == 0:
                raise StageError(f"the valid episodes hold fewer frames than one batch of "
                                 f"{args.vae_batch_size}; lower --batch-size")
            if not all(math.isfinite(v) for v in (logs or {}).values()):
                return  # TerminateOnNaN stops the run; never checkpoint a NaN state
            save_training_checkpoint(checkpoint, model, optimizer, {"epoch": epoch + 1})
            print(f"epoch {epoch + 1}/{args.epochs}: " + "  ".join(
                f"{k} {v:.4f}" for k, v in (logs or {}).items()) +
                f"  ({stream.skips.count} bad files skipped)", flush=True)

    start = time.perf_counter()
    model.fit(dataset, epochs=args.epochs, initial_epoch=first_epoch,
              verbose=1 if sys.stdout.isatty() else 0,
              callbacks=[keras.callbacks.TerminateOnNaN(), EpochCheckpoint(),
                         keras.callbacks.TensorBoard(args.tensorboard)])
    weights = model.weight_dict()
    if not all(np.all(np.isfinite(w)) for w in weights.values()):
        raise StageError(f"V's loss became NaN; no weights written (last good epoch is in "
                         f"{checkpoint})")
    save_weights(out, "vae", exp, weights, extra={"epochs": args.epochs, "seed": args.seed,
                                                      "init": args.init_digest})
    checkpoint.unlink(missing_ok=True)
    vae = VAE(weights, exp.z_size)
    frames = sample_frames(paths, 8, stream.skips)
    if frames is not None:
        save_reconstructions(out.with_name("vae_reconstructions.png"), vae, frames)
    print(f"{out}: V trained for {args.epochs} epochs in {time.perf_counter() - start:.0f}s on "
          f"{len(paths) - stream.skips.count} episodes ({stream.skips.count} bad files skipped)",
          flush=True)
