"""The online replay (bcvlr/data/window_replay.py) at a run's sizes: its memory, the time to
store a step, to draw eq. 3's batch of windows and to write and read its checkpoint.

    python -m benchmarks.window_replay [--capacity 100000] [--envs 1] [--stack 3] \
        [--against OLD_window_replay.py]

``--against`` times another version of the module side by side (e.g. ``git show
REV:bcvlr/data/window_replay.py > old.py``), on the same stream of synthetic 64x64 RGB frames.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import io
import os
import platform
import resource
import statistics
import sys
import time

# benchmarks/bcvlr.py is named like the package: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(__file__)]

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bcvlr.data import window_replay  # noqa: E402
from bcvlr.tasks import ActionSpace  # noqa: E402

ACTIONS = ActionSpace(kind="continuous", size=6)


def filled(module, args: argparse.Namespace):
    """A replay of ``module`` filled to capacity (wrapped once) with episodes of 500 steps."""
    shape = (3 * args.stack, 64, 64)
    takes_stack = "frame_stack" in inspect.signature(module.WindowReplay).parameters
    kwargs = {"frame_stack": args.stack} if takes_stack else {}  # older versions store stacks
    replay = module.WindowReplay(args.capacity, args.envs, shape, ACTIONS, seed=0, **kwargs)
    rng = np.random.default_rng(0)
    obs = rng.integers(0, 256, (args.envs, *shape), dtype=np.uint8)
    replay.start(obs)
    steps = args.capacity // args.envs + 8
    actions = np.zeros((args.envs, ACTIONS.size), np.float32)
    t0 = time.perf_counter()
    for step in range(steps):
        done = np.full(args.envs, (step + 1) % 500 == 0)
        obs = np.roll(obs, -3, axis=1)  # a new newest frame, as a frame stacker shifts
        obs[:, -3:] = (step % 251) + np.arange(args.envs)[:, None, None, None]
        replay.add(actions, obs, done, obs if done.any() else None)
    return replay, (time.perf_counter() - t0) / steps


def measure(module, args: argparse.Namespace) -> dict[str, float]:
    replay, add_s = filled(module, args)
    arrays = [v for v in vars(replay).values() if isinstance(v, np.ndarray)]
    samples = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        replay.sample(args.batch, 2)
        samples.append(time.perf_counter() - t0)
    buf = io.BytesIO()
    t0 = time.perf_counter()
    torch.save(replay.state_dict(), buf)
    save_s = time.perf_counter() - t0
    buf.seek(0)
    t0 = time.perf_counter()
    replay.load_state_dict(torch.load(buf, weights_only=False))
    load_s = time.perf_counter() - t0
    return {"memory MB": sum(a.nbytes for a in arrays) / 2**20, "add ms/step": add_s * 1e3,
            f"sample {args.batch} ms": statistics.median(samples) * 1e3,
            "checkpoint MB": buf.getbuffer().nbytes / 2**20, "save s": save_s,
            "load s": load_s}  # fmt: skip


def load_module(path: str):
    spec = importlib.util.spec_from_file_location("other_window_replay", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=100_000)
    parser.add_argument("--envs", type=int, default=1)
    parser.add_argument("--stack", type=int, default=3)
    parser.add_argument("--batch", type=int, default=512, help="eq. 3's ft_batch_size")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--against", help="another window_replay.py to time beside this one")
    args = parser.parse_args()
    torch.set_num_threads(1)
    versions = {"this": window_replay}
    if args.against:
        if not os.path.isfile(args.against):
            sys.exit(f"error: --against {args.against}: no such file")
        versions["against"] = load_module(args.against)
    print(f"# WindowReplay, capacity {args.capacity}, {args.envs} env(s), stacks of {args.stack} "
          f"64x64 RGB frames; {platform.processor() or platform.machine()}, torch "
          f"{torch.__version__}, 1 thread")  # fmt: skip
    try:
        rows = {name: measure(module, args) for name, module in versions.items()}
    except ValueError as err:  # a capacity or stack the replay refuses
        sys.exit(f"error: {err}")
    print(f"{'':22}" + "".join(f"{name:>12}" for name in rows))
    for key in rows["this"]:
        print(f"{key:22}" + "".join(f"{r[key]:12.3f}" for r in rows.values()))
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MB")


if __name__ == "__main__":
    main()
