"""bcvlr.config: YAML files on dataclass defaults, the files they extend, and overrides."""

from dataclasses import dataclass, field

import pytest

from bcvlr.config import ConfigError, load_config


@dataclass
class Inner:
    lr: float = 1e-3
    updates: int = 10


@dataclass
class Outer:
    name: str = "default"
    inner: Inner = field(default_factory=Inner)


def test_a_file_extends_another_and_overrides_come_last(tmp_path):
    (tmp_path / "base.yaml").write_text("name: base\ninner: {lr: 0.5, updates: 20}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub/child.yaml").write_text("extends: ../base.yaml\ninner: {updates: 30}\n")
    cfg = load_config(Outer, tmp_path / "sub/child.yaml", ["name=cli"])
    assert cfg == Outer(name="cli", inner=Inner(lr=0.5, updates=30))


def test_exponents_without_a_dot_are_numbers_in_files_and_overrides(tmp_path):
    (tmp_path / "c.yaml").write_text("inner: {lr: 3e-4}\n")
    assert load_config(Outer, tmp_path / "c.yaml").inner.lr == 3e-4
    assert load_config(Outer, None, ["inner.lr=1e-5"]).inner.lr == 1e-5
    assert load_config(Outer, None, ["name=1e5x"]).name == "1e5x"  # not a number: a string
    with pytest.raises(ConfigError, match=r"^--set inner.lr=e5: expected a number"):
        load_config(Outer, tmp_path / "c.yaml", ["inner.lr=e5"])


def test_a_bad_override_is_named_as_the_override_not_as_the_file(tmp_path):
    (tmp_path / "c.yaml").write_text("inner: {lr: 0.1}\n")
    with pytest.raises(
        ConfigError, match=r"^--set inner.lrr=1: inner: unknown key 'lrr' \(did you mean 'lr'"
    ):
        load_config(Outer, tmp_path / "c.yaml", ["inner.lrr=1"])
    with pytest.raises(ConfigError, match=r"^--set nmae=x: unknown key 'nmae'"):
        load_config(Outer, tmp_path / "c.yaml", ["nmae=x"])
    (tmp_path / "bad.yaml").write_text("inner: {lr: fast}\n")  # the file's own error names it
    with pytest.raises(ConfigError, match=r"bad.yaml.inner.lr: expected a number"):
        load_config(Outer, tmp_path / "bad.yaml", ["name=x"])


def test_a_key_of_another_group_is_named_with_its_path(tmp_path):
    """A setting that moved to another group (e.g. departures, diagnostics) is pointed to."""
    with pytest.raises(ConfigError, match=r"^--set updates=3: unknown key 'updates' \(it is inner.updates\)$"):
        load_config(Outer, None, ["updates=3"])
    (tmp_path / "c.yaml").write_text("inner: {name: x}\n")
    with pytest.raises(ConfigError, match=r"c.yaml.inner: unknown key 'name' \(it is name\)$"):
        load_config(Outer, tmp_path / "c.yaml")


@pytest.mark.parametrize(("text", "error"), [
    ("extends: missing.yaml\n", r"missing.yaml does not exist \(extended by .*child.yaml\)"),
    ("extends: child.yaml\n", "'extends' goes round in a circle"),
    ("extends: [a.yaml, b.yaml]\n", "'extends' must name one YAML file"),
])  # fmt: skip
def test_a_bad_extends_is_named(tmp_path, text, error):
    (tmp_path / "child.yaml").write_text(text)
    with pytest.raises(ConfigError, match=error):
        load_config(Outer, tmp_path / "child.yaml")


@dataclass
class Sizes:
    batch_size: int = 32
    channels: tuple[int, ...] = (16, 32)
    updates: int = 10
    lr: float = 1e-3


@pytest.mark.parametrize("override, error", [
    ("batch_size=0", "batch_size=0: must be >= 1, got 0"),
    ("batch_size=-4", "must be >= 1, got -4"),
    ("channels=[16,0]", r"channels\[1\]: must be >= 1, got 0"),
    ("updates=-1", "must be >= 0, got -1"),
    ("lr=-1e-3", "must be >= 0, got -0.001"),
])  # fmt: skip
def test_a_count_or_size_out_of_range_is_refused(override, error):
    """0 or a negative count once surfaced as a ZeroDivisionError (num_envs: 0) or a crash
    deep in training; a config is refused first, naming the key."""
    with pytest.raises(ConfigError, match=error):
        load_config(Sizes, None, [override])
    assert load_config(Sizes, None, ["updates=0"]).updates == 0  # 0 updates: a real choice


def test_every_method_default_config_is_in_range():
    from bcvlr.methods import METHODS, load_method
    from bcvlr.tasks import SUITES, tasks_of

    for name in METHODS:
        method = load_method(name)
        for suite in SUITES:
            task = tasks_of(suite)[0]
            if suite in method.SUITES:
                load_config(method.Config, base=method.default_config(task))


def test_each_method_record_matches_its_module():
    """The workflow reads a method's record without importing it (no torch in a SLURM job's
    parse): the record must say what the module does."""
    from bcvlr.methods import METHODS, load_method
    from bcvlr.tasks import TASKS

    for name, record in METHODS.items():
        method = load_method(name)
        assert record.videos == getattr(method, "NEEDS_VIDEOS", False), name
        suites = {TASKS[t].suite for t in record.paper_tasks or ()}
        assert suites <= set(method.SUITES), name


def test_a_suite_defaults_file_given_as_config_is_refused_in_one_line():
    """config/bcvlr/dmc.yaml is what BCV-LR starts from on DMC; passed as --config, its
    task_overrides key is explained instead of reported as unknown."""
    from bcvlr.method import bcvlr
    from bcvlr.tasks import get_task

    with pytest.raises(ConfigError, match="a suite's defaults file, which the method already"):
        load_config(bcvlr.Config, "config/bcvlr/dmc.yaml",
                    base=bcvlr.default_config(get_task("reacher_hard")))  # fmt: skip
