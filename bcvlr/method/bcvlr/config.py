"""BCV-LR's hyper-parameters: the groups of the paper's Tables 11 (Procgen) and 12 (DMC;
Metaworld shares them); config/bcvlr/{suite}.yaml holds the paper's values. What is not the
paper's lives in groups of its own: ``departures`` and ``diagnostics``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bcvlr.config import read_config_file
from bcvlr.diagnostics.config import DiagnosticsConfig
from bcvlr.tasks import Task

CONFIG_DIR = Path(__file__).resolve().parents[3] / "config" / "bcvlr"


@dataclass
class FeatureConfig:
    # eq. 1 with reconstruction (Procgen), prototypes eqs. 5-10 (DMC), contrastive (Metaworld)
    objective: Literal["contrastive_recon", "prototype", "contrastive"] = "prototype"
    encoder: Literal["conv", "impala"] = "conv"
    channels: int = 32
    strided_layers: int = 1  # conv encoder: layers with stride 2 (1 -> 32x32 maps from 64x64)
    updates: int = 50_000
    batch_size: int = 512
    lr: float = 1e-4
    shift_pad: int = 4
    recon_alpha: float = 0.1
    ema_tau: float = 0.05  # momentum: f' <- tau f + (1 - tau) f'
    ema_every: int = 2
    proj_dim: int = 128
    predictor_hidden: int = 512
    num_prototypes: int = 512
    temperature: float = 0.1
    sinkhorn_iters: int = 3
    # A hook for an off-the-shelf encoder: a file holding a FeatureEncoder state_dict (or a
    # features.pt of this stage) used instead of pretraining.
    pretrained_encoder: str | None = None


@dataclass
class LatentActionConfig:
    window: int = 2  # (o_t, o_t+1) continuous; (o_t-1, o_t, o_t+1) discrete
    updates: int = 50_000
    batch_size: int = 128
    idm_lr: float = 3e-4
    wm_lr: float = 3e-4
    grad_clip: float = 2.0
    latent_dim: int = 128
    vq_codebooks: int = 2
    vq_positions: int = 4
    vq_embeddings: int = 64
    vq_decay: float = 0.999
    vq_commitment: float = 0.05
    idm_channels: tuple[int, ...] = (64, 128, 128)
    idm_hidden: int = 256
    wm_base_channels: int = 24
    # The authors' world model squashes its output with tanh/2; the paper states no bound, so
    # the code's choice is the default.
    wm_bounded_output: bool = True


@dataclass
class OnlineConfig:
    bc_warmup_updates: int = 60_000  # paper; the authors' code uses 20k
    num_envs: int = 1
    cycle_steps: int = 1000  # policy steps per env per cycle (F_ft)
    random_first_cycle: bool = True
    ft_updates: int | None = None  # fixed U_ft; None: ft_epochs passes over the replay
    ft_epochs: float = 2.0
    ft_batch_size: int = 512
    decoder_lr: float = 1e-3
    idm_ft_lr: float = 1e-3
    beta: float = 1e-5
    wm_ft: Literal["frozen", "finetune"] = "finetune"
    wm_ft_lr: float = 1e-5
    bc_updates: int = 1000
    bc_batch_size: int = 128
    policy_lr: float = 1e-3
    decoder_hidden: tuple[int, ...] = (192, 128, 64)
    policy_hidden: int = 1024
    policy_trunk: int = 50
    policy_channels: tuple[int, ...] = (64, 128, 128)  # discrete policy's IMPALA stack
    explore_std: float = 0.5
    replay_capacity: int = 100_000
    checkpoint_every_cycles: int = 5
    # The authors' continuous code labels BC batches with the IDM in train mode, so VQ EMA and
    # BatchNorm statistics drift during BC; eval mode is the default.
    idm_mode_in_bc: Literal["eval", "train"] = "eval"
    # Offline decoding (Table 10): finetune p, d and clone pi on N action-labelled expert
    # transitions instead of interacting (0 = the online method).
    offline_labelled: int = 0


@dataclass
class DepartureConfig:
    """Settings that are not the paper's, in one group so that no paper run sets one by
    accident: each default is the paper's (or, where it is silent, the authors' code's); each
    other value is a departure, with its measurement in docs/fidelity.md."""

    # VQ codebook init: "uniform", LAPO's and the authors'; "data", drawn from the first
    # batch's latents
    vq_init: Literal["uniform", "data"] = "uniform"
    # w outputs f(o_t) plus a change whose last layer starts at zero (eq. 2: f(o_t+1) itself)
    wm_residual: bool = False
    # p reads f's features standardised per channel over the videos, fixed before it trains
    idm_input_norm: Literal["none", "standardize"] = "none"
    idm_input_norm_batches: int = 16
    # pi predicts, and d reads, latents standardised over the videos at the online stage's
    # start; "robust": median and MAD, eq. 4's targets clipped to +-LATENT_CLIP
    latent_norm: Literal["none", "standardize", "robust"] = "none"
    latent_norm_batches: int = 16
    # with latent_norm: its statistics fitted again every cycle, after eq. 3 moved p
    latent_norm_refit: bool = False
    # o_t's latent action (what pi predicts, what eq. 3 pairs a_t with) is the one of the
    # transition this many steps later (0: the paper's pairing)
    action_lead: int = 0


@dataclass
class Config:
    features: FeatureConfig = field(default_factory=FeatureConfig)
    latent_actions: LatentActionConfig = field(default_factory=LatentActionConfig)
    online: OnlineConfig = field(default_factory=OnlineConfig)
    departures: DepartureConfig = field(default_factory=DepartureConfig)
    # The probes and health checks of the latent actions: off unless diagnostics.enabled
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)
    # Ablations of Fig. 4: without latent features / latent-action pretraining / finetuning.
    variant: Literal["full", "wo_lf", "wo_la", "wo_ft"] = "full"
    # Table 8: the encoder stays frozen, or is finetuned through L_la or through L_ft.
    encoder_training: Literal["frozen", "la", "ft"] = "frozen"
    budget: int | None = None  # interaction budget in the task's unit (None: the registry's)
    checkpoint_every: int = 1000  # pretraining updates between checkpoints
    device: str = "auto"
    # bf16: the updates' forward passes under bfloat16 autocast, a speed option that is not the
    # paper's (its own equivalence tolerance: docs/performance.md); acting stays fp32
    precision: Literal["fp32", "bf16"] = "fp32"
    # a scaled-down config (mini, tiny): its runs are labelled reduced_budget even when they
    # interact for the task's full budget, since their pretraining is not the paper's
    reduced_size: bool = False
    # Where f is frozen, its features of every video frame are computed once and gathered per
    # batch instead of encoding each sampled window (the same features; docs/performance.md);
    # on a GPU, stages that read the frames themselves hold them there. Each such table is
    # built when it fits in this many MB on the device; 0 builds none.
    feature_cache_mb: float = 16384

    def validate(self) -> None:
        if self.latent_actions.window not in (2, 3):
            raise ValueError("latent_actions.window must be 2 or 3")
        if self.features.objective == "contrastive_recon" and self.features.encoder != "impala":
            # v decodes the feature maps at their own size: only the IMPALA encoder keeps 64x64
            raise ValueError("features.objective contrastive_recon needs features.encoder impala "
                             f"(its maps keep the frame size), not {self.features.encoder!r}")  # fmt: skip
        if self.departures.latent_norm_refit and self.departures.latent_norm == "none":
            raise ValueError("departures.latent_norm_refit needs departures.latent_norm: "
                             "standardize or robust")  # fmt: skip
        if self.variant == "wo_lf" and self.encoder_training == "frozen":
            # w/o lf trains the encoder through the other objectives (Section 4.4)
            self.encoder_training = "ft"


def default_config(task: Task) -> dict:
    """The paper's hyper-parameters for the task's suite, with the per-task overrides of the
    captions of Tables 11 and 12."""
    data = read_config_file(CONFIG_DIR / f"{task.suite}.yaml")
    overrides = data.pop("task_overrides", {}) or {}
    for pattern, section in overrides.items():
        if (
            task.name == pattern
            or task.name.startswith(pattern.rstrip("*"))
            and pattern.endswith("*")
        ):
            for group, values in section.items():
                data.setdefault(group, {}).update(values)
    return data
