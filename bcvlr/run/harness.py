"""The harness a method's ``run`` is driven by.

    with Harness("bcvlr", task, seed, config=asdict(cfg), runs_root=root) as h:
        state = h.start()                       # None on a fresh run, else the checkpoint
        ...
        if h.eval_due(frames): h.evaluate(act, step, frames)
        h.checkpoint(step, {"model": ..., "optim": ...})
        h.finish()

It owns seeding, the run directory (results/runs/{method}/{task}/seed{seed}/), checkpoints in
its ``checkpoints/`` folder (outside what Snakemake declares as outputs, so a retried job
resumes), the evaluation schedule of the task registry, and progress bars.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bcvlr.results.rundir import RunDir, refuse_complete, run_path
from bcvlr.run.evaluate import Act, EvalResult, Inputs, evaluate
from bcvlr.run.lifecycle import CHECKPOINT, Resumable
from bcvlr.run.seeding import eval_seed
from bcvlr.tasks import Task, eval_points, get_task


class Harness(Resumable):
    def __init__(
        self,
        method: str,
        task: Task | str,
        seed: int,
        *,
        config: dict[str, Any],
        runs_root: str | os.PathLike = "results/runs",
        budget: int | None = None,
        eval_every: int | None = None,
        eval_episodes: int | None = None,
        labels: dict[str, Any] | None = None,
        progress: bool = True,
        reduced_size: bool = False,
    ):
        self.method = method
        self.task = get_task(task) if isinstance(task, str) else task
        # as run.json stores it (tuples become lists), so a resumed run compares equal
        self.config = json.loads(json.dumps(config, default=str))
        self.budget = self.task.budget if budget is None else int(budget)
        self.eval_every = self.task.eval.every if eval_every is None else int(eval_every)
        self.eval_episodes = (
            self.task.eval.episodes if eval_episodes is None else int(eval_episodes)
        )
        if self.budget < 1 or self.eval_every < 1 or self.eval_episodes < 1:
            raise ValueError(f"budget, eval_every and eval_episodes must be >= 1, got "
                             f"{self.budget}, {self.eval_every}, {self.eval_episodes}")  # fmt: skip
        self.labels = labels or {}
        self.reduced_size = reduced_size  # a scaled-down config: reduced whatever the budget
        self.path = run_path(runs_root, method, self.task.name, int(seed))
        super().__init__(self.path, seed, "the run")
        self.runs_root = Path(runs_root)
        self.progress = progress
        self.run: RunDir | None = None
        self._evals_done: set[int] = set()

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> dict[str, Any] | None:
        """Seed everything, then open the run: resume from its checkpoint if there is one."""
        state = self._open()
        if state is not None:
            self.run = RunDir.resume(self.path, checkpoint_step=state["_step"], config=self.config,
                                     budget=self.budget)  # fmt: skip
            self._evals_done = set(state.get("_evals_done", ()))
        else:
            refuse_complete(self.path)  # a finished run is never silently overwritten
            # RunDir.create also labels any budget below the task's
            self.run = RunDir.create(self.runs_root, self.method, self.task.name, self.seed,
                                     config=self.config, budget=self.budget,
                                     reduced_budget=self.reduced_size, labels=self.labels,
                                     overwrite=True)  # fmt: skip
        return state

    def checkpoint(self, step: int, state: dict[str, Any]) -> None:
        assert self.run is not None, "call start() first"
        self.run.metrics.flush()
        self._save(step, dict(state, _evals_done=sorted(self._evals_done)))
        self.run.mark_checkpoint(step, path=CHECKPOINT)

    def finish(self) -> None:
        assert self.run is not None
        if self._bar is not None:
            self._bar.close()
        self.run.mark_complete()

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._bar is not None:
            self._bar.close()
        if self.run is not None:
            if exc is not None and self.run.status == "running":
                self.run.mark_failed(exc)
            self.run.close()
        self._close()

    # -- logging and progress -----------------------------------------------------------------
    def log(self, step: int, frames: int, metrics: dict[str, float]) -> None:
        assert self.run is not None
        self.run.log(step, frames, metrics)

    def progress_bar(self, total: int, initial: int = 0, desc: str | None = None) -> tqdm:
        if self._bar is not None:
            self._bar.close()
        self._bar = tqdm(total=total, initial=initial, desc=desc or f"{self.method}/{self.task.name}",
                         unit="frame", disable=not self.progress, dynamic_ncols=True)  # fmt: skip
        return self._bar

    # -- evaluation ---------------------------------------------------------------------------
    def eval_points(self) -> list[int]:
        """Frames at which to evaluate: every ``eval_every`` and the tables' points, within
        the budget, and the end of the budget."""
        return eval_points(self.task, self.budget, self.eval_every)

    def eval_due(self, frames: int) -> int | None:
        """The latest evaluation point reached and not yet evaluated, if any."""
        due = [p for p in self.eval_points() if p <= frames and p not in self._evals_done]
        return due[-1] if due else None

    def evaluate(
        self, act: Act, step: int, frames: int, *, inputs: Inputs = "frames"
    ) -> EvalResult:
        """Evaluate per the task's protocol and log the score at ``frames``; every point passed
        since the last evaluation counts as done (the policy is the same for all of them)."""
        seed = eval_seed(self.seed, len(self._evals_done))
        result = evaluate(self.task, act, self.eval_episodes, seed, inputs=inputs)
        self.log(step, frames, result.metrics(self.task))
        self._evals_done |= {p for p in self.eval_points() if p <= frames}
        if self._bar is not None:
            self._bar.set_postfix(score=f"{result.score(self.task):.3g}")
        return result
