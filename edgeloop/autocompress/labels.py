"""How the report and the side-by-side timing name each point: both key on these labels, so
they are spelled once, here (a module of its own so neither imports the other)."""

from __future__ import annotations


def trial_label(trial: int) -> str:
    """A trial as run during the search."""
    return f"trial {trial}"


def winner_label(trial: int) -> str:
    """The winner's rerun as a point of the report."""
    return f"winner (trial {trial}, longer fine-tune)"


def refined_label(trial: int) -> str:
    """A refined front trial's rerun as a point of the report."""
    return f"trial {trial}, longer fine-tune"


def key(name: str, label: str) -> str:
    """A comparison point's key: ``NetAdapt: iteration 2``."""
    return f"{name}: {label}"
