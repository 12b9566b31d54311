"""bcvlr-bench: imitation learning from videos, BCV-LR and its baselines."""

__version__ = "0.1.0"
