"""Action networks on pixels (or feature maps): a policy a = pi(o_t) and an inverse dynamics
model a = IDM(o_t, o_t+1), with the action loss and scores both are trained and judged by.

One trunk for both: IMPALA conv sequences, then DrQv2's bottleneck (Linear to ``hidden`` units,
LayerNorm, tanh) and a linear head, whose output is

- discrete actions: logits; trained with cross-entropy, scored by accuracy;
- continuous actions: a tanh-squashed action in [-1, 1]^d; trained with MSE, scored by R^2.

The IDM sees a window of consecutive observations ending with the transition, (o_t, o_t+1) or
(o_t-1, o_t, o_t+1), stacked along channels (a (B, W, C, H, W) window becomes (B, WC, H, W)),
so a random shift moves every frame by the same offset and keeps the motion between them
intact. The three-frame window is LAPO's and BCV-LR's on Procgen: where a game has inertia,
o_t-1 gives the velocity that the action changes. Inputs are uint8-range pixels (scaled to [0, 1] here) or, with
``pixels=False``, float feature maps of a pretrained encoder (UPESV's labeller).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bcvlr.nets import module_device
from bcvlr.nets.impala import ImpalaCNN
from bcvlr.nets.mlp import trunk
from bcvlr.tasks import ActionSpace


class ActionNet(nn.Module):
    """(B, C, H, W) -> action output (logits, or actions in [-1, 1])."""

    def __init__(self, in_shape: tuple[int, int, int], action_space: ActionSpace,
                 channels: Sequence[int] = (16, 32, 32), hidden: int = 256,
                 pixels: bool = True):  # fmt: skip
        super().__init__()
        self.discrete = action_space.is_discrete
        self.action_size = action_space.size
        self.pixels = pixels
        self.convs = ImpalaCNN(tuple(in_shape), tuple(channels), out_features=None)
        # Not IMPALA's ReLU'd fc: with it, every hidden unit of a reacher IDM died (a constant
        # output, R^2 0) within 1500 updates at lr 1e-3; LayerNorm + tanh units cannot die.
        self.trunk = trunk(self.convs.out_dim, hidden)
        self.head = nn.Linear(hidden, action_space.size)
        # A near-uniform (or near-zero) first output, as PPO's policy head starts.
        nn.init.orthogonal_(self.head.weight, 0.01)
        nn.init.zeros_(self.head.bias)
        # oneDNN's convolutions run ~2-3x faster on CPU in channels-last layout (baselines/ppo).
        self.to(memory_format=torch.channels_last)

    def features(self, x: Tensor, aug: nn.Module | None = None) -> Tensor:
        """The trunk's ``hidden`` features; ``aug`` (e.g. RandomShift) applies before scaling."""
        x = x.float()
        if aug is not None:
            x = aug(x)
        if self.pixels:
            x = x / 255.0
        maps = self.convs(x.contiguous(memory_format=torch.channels_last))
        # the last residual block ends in an addition: rectify before the bottleneck
        return self.trunk(F.relu(maps.flatten(1)))

    def output(self, h: Tensor) -> Tensor:
        out = self.head(h)
        return out if self.discrete else torch.tanh(out)

    def forward(self, x: Tensor, aug: nn.Module | None = None) -> Tensor:
        return self.output(self.features(x, aug))

    # -- training and scoring ---------------------------------------------------------------
    def loss(self, out: Tensor, target: Tensor) -> Tensor:
        """Cross-entropy to action indices, or MSE to actions."""
        if self.discrete:
            return F.cross_entropy(out, target.long())
        return F.mse_loss(out, target.float())

    def label(self, out: Tensor) -> Tensor:
        """The action an output stands for: the most likely one, or the output itself."""
        return out.argmax(-1) if self.discrete else out.detach()

    def metrics(self, out: Tensor, target: Tensor) -> dict[str, float]:
        """Accuracy (discrete), or R^2 and MSE (continuous) of outputs against true actions."""
        with torch.no_grad():
            if self.discrete:
                return {"accuracy": (out.argmax(-1) == target.long()).float().mean().item()}
            target = target.float()
            sse = ((out - target) ** 2).sum()
            # variance-weighted R^2 over all dimensions: a dimension an expert never varies
            # would make a per-dimension mean undefined
            sst = ((target - target.mean(0)) ** 2).sum().clamp_min(1e-12)
            return {"r2": (1 - sse / sst).item(), "mse": (sse / target.numel()).item()}

    @torch.no_grad()
    def act(self, obs: np.ndarray, *, deterministic: bool, noise_std: float = 0.0,
            generator: torch.Generator | None = None) -> np.ndarray:  # fmt: skip
        device = module_device(self)
        return sample_actions(self(torch.as_tensor(obs, device=device)), self.discrete,
                              deterministic, noise_std, generator)  # fmt: skip


class InverseDynamics(ActionNet):
    """a_t from a window (B, window, C, H, W) ending with (o_t, o_t+1), stacked along channels."""

    def __init__(self, obs_shape: tuple[int, int, int], action_space: ActionSpace,
                 channels: Sequence[int] = (16, 32, 32), hidden: int = 256,
                 pixels: bool = True, window: int = 2):  # fmt: skip
        if window < 2:
            raise ValueError(f"an inverse dynamics model needs a window of >= 2, got {window}")
        c, h, w = obs_shape
        super().__init__((window * c, h, w), action_space, channels, hidden, pixels)
        self.window = window

    def features(self, windows: Tensor, aug: nn.Module | None = None) -> Tensor:
        if windows.dim() != 5 or windows.shape[1] != self.window:
            raise ValueError(f"expected (B, {self.window}, C, H, W) windows ending with "
                             f"(o_t, o_t+1), got {tuple(windows.shape)}")  # fmt: skip
        return super().features(windows.flatten(1, 2), aug)


def sample_actions(out: Tensor, discrete: bool, deterministic: bool, noise_std: float = 0.0,
                   generator: torch.Generator | None = None) -> np.ndarray:  # fmt: skip
    """Env actions from network outputs: the argmax or a categorical sample of the logits;
    the action, plus clipped Gaussian noise of ``noise_std`` unless ``deterministic``. Random
    numbers come from ``generator`` (on the CPU), so acting is reproducible after a resume."""
    out = out.float().cpu()
    if discrete:
        if deterministic:
            return out.argmax(-1).numpy()
        probs = F.softmax(out, dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1).numpy()
    if not deterministic and noise_std > 0:
        out = out + torch.randn(out.shape, generator=generator) * noise_std
    return out.clamp(-1, 1).numpy().astype(np.float32)
