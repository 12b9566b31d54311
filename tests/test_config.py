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


@dataclass
class CheckedInner:
    rate: float = 0.5

    def validate(self) -> None:
        if not 0 <= self.rate <= 1:
            raise ValueError(f"rate must be in [0, 1], not {self.rate}")


@dataclass
class Checked:
    inner: Inner = field(default_factory=Inner)
    nested: CheckedInner = field(default_factory=CheckedInner)
    steps: int = 1

    def validate(self) -> None:
        for key, value in (("steps", self.steps), ("inner.updates", self.inner.updates)):
            if value < 0:
                raise ValueError(f"{key} must be >= 0, not {value}")


def test_a_value_that_validate_rejects_is_named_as_its_override(tmp_path):
    with pytest.raises(ConfigError, match=r"^--set steps=-1: steps must be >= 0, not -1$"):
        load_config(Checked, None, ["steps=-1"])
    with pytest.raises(
        ConfigError, match=r"^--set inner.updates=-2: inner.updates must be >= 0, not -2$"
    ):
        load_config(Checked, None, ["inner.updates=-2"])
    with pytest.raises(
        ConfigError, match=r"^--set nested.rate=2: nested: rate must be in \[0, 1\], not 2.0$"
    ):
        load_config(Checked, None, ["nested.rate=2"])
    (tmp_path / "c.yaml").write_text("steps: -3\n")  # from the file: the file is named
    with pytest.raises(ConfigError, match=r"c.yaml: steps must be >= 0, not -3$"):
        load_config(Checked, tmp_path / "c.yaml", ["inner.updates=1"])


@pytest.mark.parametrize(("text", "error"), [
    ("extends: missing.yaml\n", r"missing.yaml does not exist \(extended by .*child.yaml\)"),
    ("extends: child.yaml\n", "'extends' goes round in a circle"),
    ("extends: [a.yaml, b.yaml]\n", "'extends' must name one YAML file"),
])  # fmt: skip
def test_a_bad_extends_is_named(tmp_path, text, error):
    (tmp_path / "child.yaml").write_text(text)
    with pytest.raises(ConfigError, match=error):
        load_config(Outer, tmp_path / "child.yaml")
