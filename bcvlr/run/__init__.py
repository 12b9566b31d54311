"""The common run harness every method uses: seeding, checkpoints and resume, the evaluation
schedule, metrics and provenance. A method never writes results files itself."""

from bcvlr.run.checkpoint import load_checkpoint, save_checkpoint
from bcvlr.run.harness import Harness
from bcvlr.run.seeding import seed_everything

__all__ = ["Harness", "load_checkpoint", "save_checkpoint", "seed_everything"]
