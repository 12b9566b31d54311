"""What the report draws, as data: one ``TableSpec`` per paper table, one ``FigureSpec`` per figure.

A column names a suite method (``bcvlr``, ``laifo``, ...) or, where the paper's column changes
method with the suite (Table 10's "RL"), one method per suite. The expert column is implicit and
always last: its value is the registry's expert score (the paper's "Expert Videos").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bcvlr.methods import METHODS
from bcvlr.tasks import get_task

# Display names of the BCV-LR variants the paper's tables and figures name (a method's own is
# its record's label in bcvlr/methods.py; any other name is shown as it is).
VARIANT_LABELS: dict[str, str] = {
    "bcvlr_wo_lf": "BCV-LR w/o lf",
    "bcvlr_wo_la": "BCV-LR w/o la",
    "bcvlr_wo_ft": "BCV-LR w/o ft",
    "bcvlr_m": "BCV-LR-M",
    "bcvlr_offline": "BCV-LR-offline",
    "bcvlr_1000to2": "BCV-LR (1000->2)",
    "bcvlr_ft_la": "BCV-LR (features finetuned via L_la)",
    "bcvlr_ft_ft": "BCV-LR (features finetuned via L_ft)",
    "expert": "Expert videos",
}
# Methods given the environment's reward (underlined in the paper).
REWARD_METHODS = frozenset(name for name, m in METHODS.items() if m.rewards)
EXPERT = "expert"
RUNS_TABLE = "runs"  # every method with runs, at the end of their budget (tables.runs_table)


def method_label(method: str) -> str:
    if method in METHODS:
        return METHODS[method].label
    return VARIANT_LABELS.get(method, method)


@dataclass(frozen=True)
class Column:
    label: str
    # one method, or ((suite, method), ...) when the column's method depends on the row's suite
    method: str | tuple[tuple[str, str], ...]

    def method_for(self, task: str) -> str:
        if isinstance(self.method, str):
            return self.method
        return dict(self.method)[get_task(task).suite]

    @property
    def methods(self) -> tuple[str, ...]:
        return (self.method,) if isinstance(self.method, str) else tuple(m for _, m in self.method)

    @property
    def uses_rewards(self) -> bool:
        return any(m in REWARD_METHODS for m in self.methods)


@dataclass(frozen=True)
class TableSpec:
    number: int
    caption: str
    tasks: tuple[str, ...]
    columns: tuple[Column, ...]
    # reporting point in the tasks' budget unit (frames for DMC/Metaworld, env steps for Procgen)
    at: int
    decimals: int
    # (key, printed label); keys: "mean" (mean over tasks), "video_norm_mean" (mean of score/expert)
    summary_rows: tuple[tuple[str, str], ...] = ()
    row_header: str = "Task"
    expert_label: str = "Expert Videos"

    @property
    def name(self) -> str:
        return f"table{self.number}"

    def summary_decimals(self, key: str) -> int:
        return 2 if key == "video_norm_mean" else self.decimals


PROCGEN_T1 = (
    "bigfish", "maze", "heist", "coinrun", "plunder", "dodgeball", "jumper", "climber",
    "fruitbot", "starpilot", "ninja", "miner", "caveflyer", "leaper", "chaser", "bossfight",
)  # fmt: skip
DMC_T2 = (
    "point_mass_easy", "reacher_hard", "jaco_reach_top_right", "finger_spin",
    "ball_in_cup_catch", "jaco_reach_bottom_left", "cheetah_run_backward", "reacher_easy",
)  # fmt: skip
METAWORLD_T6 = (
    "metaworld_faucet_open", "metaworld_reach", "metaworld_drawer_open", "metaworld_faucet_close",
)  # fmt: skip

_BCVLR = Column("BCV-LR (ours)", "bcvlr")
_DMC_COLUMNS = (
    _BCVLR,
    Column("LAIFO", "laifo"),
    Column("BCO", "bco"),
    Column("UPESV", "upesv"),
    Column("TACO", "taco"),
    Column("DrQv2", "drqv2"),
)
_MEANS = (("mean", "Mean"), ("video_norm_mean", "Video-norm Mean"))

TABLE_SPECS: tuple[TableSpec, ...] = (
    TableSpec(
        1, "Interaction-limited policy learning in Procgen (100k environment steps).",
        PROCGEN_T1,
        (_BCVLR, Column("UPESV", "upesv"), Column("BCO", "bco"), Column("ILPO", "ilpo"),
         Column("LAIFO", "laifo"), Column("LAPO", "lapo"), Column("PPO", "ppo")),
        at=100_000, decimals=1, summary_rows=_MEANS,
    ),
    TableSpec(
        2, "Comparison with ILV and RL baselines on DMControl (100k frames).",
        DMC_T2, _DMC_COLUMNS, at=100_000, decimals=0, summary_rows=_MEANS,
    ),
    TableSpec(
        3, "Multi-task pre-training and adaptation of BCV-LR (Procgen, 100k steps). BCV-LR-S and "
        "PPO-S are the single-task runs of Table 1.",
        ("bigfish", "maze", "starpilot", "bossfight", "dodgeball"),
        (Column("BCV-LR-M", "bcvlr_m"), Column("BCV-LR-S", "bcvlr"), Column("PPO-S", "ppo")),
        at=100_000, decimals=1,
    ),
    TableSpec(
        4, "DMControl at 50k frames.", DMC_T2, _DMC_COLUMNS, at=50_000, decimals=0,
        row_header="Task (50k steps)",
    ),
    TableSpec(
        5, "DMControl at 20k frames.", DMC_T2, _DMC_COLUMNS, at=20_000, decimals=0,
        row_header="Task (20k steps)",
    ),
    TableSpec(
        6, "Success rate on 4 Metaworld manipulation tasks (50k frames).", METAWORLD_T6,
        (_BCVLR, Column("BCO", "bco"), Column("DrQv2", "drqv2")),
        at=50_000, decimals=2, summary_rows=(("mean", "Mean Success Rate"),),
        row_header="Metaworld-50k",
    ),
    TableSpec(
        7, "BCV-LR and LAPO's behaviour-cloning variant (Procgen scores, 100k steps).",
        ("fruitbot", "heist", "bossfight", "chaser"),
        (_BCVLR, Column("LAPO-BC", "lapo_bc"), Column("PPO", "ppo")),
        at=100_000, decimals=1,
    ),
    TableSpec(
        8, "Freezing vs finetuning BCV-LR's self-supervised features (DMControl, 100k frames).",
        ("reacher_hard", "finger_spin"),
        (Column("Finetuned via L_la", "bcvlr_ft_la"), Column("Finetuned via L_ft", "bcvlr_ft_ft"),
         Column("Frozen", "bcvlr")),
        at=100_000, decimals=0, expert_label="Expert videos",
    ),
    TableSpec(
        9, "BCV-LR under a schedule of 2 interactions per cycle (DMControl, 100k frames).",
        ("reacher_hard", "finger_spin"),
        (Column("BCV-LR (1000->2)", "bcvlr_1000to2"), Column("BCV-LR", "bcvlr"),
         Column("DrQv2", "drqv2")),
        at=100_000, decimals=0, expert_label="Expert videos",
    ),
    TableSpec(
        10, "Offline latent action decoding with 10k action-labelled expert transitions "
        "(RL = DrQv2 on DMControl, PPO on Procgen; 100k).",
        ("reacher_hard", "finger_spin", "fruitbot"),
        (Column("BCV-LR-offline", "bcvlr_offline"), Column("BCV-LR", "bcvlr"),
         Column("RL", (("dmc", "drqv2"), ("procgen", "ppo")))),
        at=100_000, decimals=0, expert_label="Expert videos",
    ),
)  # fmt: skip
# Table 10 mixes DMC (integers) and Procgen (one decimal) rows: per-task override.
ROW_DECIMALS: dict[tuple[int, str], int] = {(10, "fruitbot"): 1}


def table_spec(number: int) -> TableSpec:
    return next(s for s in TABLE_SPECS if s.number == number)


# -- rliable: which table defines a suite's methods and tasks ----------------------------------
SUITE_TABLES: dict[str, int] = {"procgen": 1, "dmc": 2, "metaworld": 6}


@dataclass(frozen=True)
class FigureSpec:
    """Learning curves: one panel per task, one line per method (mean ± std over seeds)."""

    number: int
    name: str
    title: str
    caption: str
    # fixed methods, plus any method whose name starts with one of ``prefixes`` (sweeps)
    methods: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    # None: every task on which a ``required`` method has runs
    tasks: tuple[str, ...] | None = None
    # a panel is drawn only if one of these has data there (sweeps need a swept variant,
    # not only the default run); empty: any listed method
    required: tuple[str, ...] = ()
    # "standard": runs at the task's budget (or reduced mini runs); "extended": longer runs
    budget: str = "standard"
    # legend label of the default run in a sweep
    default_label: str | None = None
    sweep_symbol: str = ""
    extra: dict[str, str] = field(default_factory=dict)


FIGURE_SPECS: tuple[FigureSpec, ...] = (
    FigureSpec(
        3, "fig3_dmc_ilv_curves", "Online training curves of ILV methods in DMControl",
        "Figure 3: evaluation return vs environment frames of the video-only (ILV) methods.",
        methods=("bcvlr", "laifo", "bco", "upesv"), tasks=DMC_T2,
    ),
    FigureSpec(
        4, "fig4_ablations", "Ablations of BCV-LR",
        "Figure 4: BCV-LR without latent-feature pre-training (w/o lf), without latent-action "
        "pre-training (w/o la) and without online latent-action finetuning (w/o ft).",
        methods=("bcvlr", "bcvlr_wo_lf", "bcvlr_wo_la", "bcvlr_wo_ft"),
        required=("bcvlr_wo_lf", "bcvlr_wo_la", "bcvlr_wo_ft"),
    ),
    FigureSpec(
        5, "fig5_video_data", "BCV-LR with different amounts of expert video",
        "Figure 5: BCV-LR given different numbers of action-free video transitions "
        "(method names bcvlr_videos{N}; plain bcvlr uses the full dataset).",
        methods=("bcvlr",), prefixes=("bcvlr_videos",), default_label="BCV-LR (all videos)",
        sweep_symbol="videos",
    ),
    FigureSpec(
        6, "fig6_alpha_sweep", "Reconstruction-loss weight α",
        "Figure 6: ablation and sensitivity of the reconstruction loss weight α in latent "
        "feature pre-training (method names bcvlr_alpha{α}).",
        methods=("bcvlr",), prefixes=("bcvlr_alpha",), default_label="BCV-LR (default α)",
        sweep_symbol="α",
    ),
    FigureSpec(
        7, "fig7_beta_sweep", "World-model weight β in online finetuning",
        "Figure 7: ablation and sensitivity of the dynamics-constrained loss weight β in online "
        "latent action finetuning (method names bcvlr_beta{β}).",
        methods=("bcvlr",), prefixes=("bcvlr_beta",), default_label="BCV-LR (default β)",
        sweep_symbol="β",
    ),
    FigureSpec(
        8, "fig8_bcvlr_vs_laifo_100k", "BCV-LR vs LAIFO, 100k frames",
        "Figure 8: BCV-LR and LAIFO when 100k frames are allowed.",
        methods=("bcvlr", "laifo"), tasks=("reacher_hard", "walker_walk"),
    ),
    FigureSpec(
        9, "fig9_bcvlr_vs_laifo_500k", "BCV-LR vs LAIFO, 500k frames",
        "Figure 9: BCV-LR and LAIFO when 500k frames are allowed (runs whose budget exceeds "
        "the task's; keep them under their own runs root, e.g. results/runs-500k).",
        methods=("bcvlr", "laifo"), tasks=("reacher_hard", "walker_walk"), budget="extended",
    ),
)  # fmt: skip


def report_files(out: str) -> list[str]:
    """Files every report writes, whatever the data (a Snakemake rule's ``output:``; figures
    and statistics depend on which runs exist and are listed in manifest.json). Here, with
    the specs, so that the workflow gets them without importing the statistics stack."""
    return [f"{out}/README.md", f"{out}/manifest.json", f"{out}/tables/{RUNS_TABLE}.md",
            f"{out}/tables/{RUNS_TABLE}.csv"] + [
        f"{out}/tables/{spec.name}.{ext}" for spec in TABLE_SPECS for ext in ("md", "tex", "csv")]  # fmt: skip
