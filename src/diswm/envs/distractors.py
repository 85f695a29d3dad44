"""Colour distractors of DisWM's modified Distracting Control Suite.

The official code (``distracting_control/color.py``, DisWM fork) replaces *every* material colour by a
base RGB and perturbs it: each episode draws each material and channel uniformly from
``[base - max_delta, base + max_delta]`` (clipped to [0, 1]); DMC tasks then random-walk the colours
every control step (``step_std``), clipped to the same box. The two named sets are disjoint for
``max_delta <= 0.2``: their boxes only touch on the plane G = 0.5.

Unlike the official code, the random stream is passed in by the environment, which seeds it from the
environment seed, so colours are reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Base RGB of each named colour set (released ``distracting_control/color.py``, ``DistractingColorEnv._reset_color``;
#: the paper's Fig. 3 shows them, its text gives no values).
COLOUR_SET_BASES: dict[str, tuple[float, float, float]] = {
    "train": (0.7, 0.3, 0.5),
    "test": (0.5, 0.7, 0.3),
}
#: ``none`` keeps the model's own colours.
DISTRACTORS = ("none", *COLOUR_SET_BASES)
#: Above this the train and test boxes overlap (the official code raises too).
MAX_DISJOINT_DELTA = 0.2


@dataclass(frozen=True)
class ColourBox:
    """The axis-aligned RGB box a colour set draws from."""

    low: np.ndarray
    high: np.ndarray

    @classmethod
    def for_set(cls, name: str, max_delta: float) -> ColourBox:
        if name not in COLOUR_SET_BASES:
            raise ValueError(f"unknown colour set {name!r}; expected one of {sorted(COLOUR_SET_BASES)}")
        if not 0.0 < max_delta <= MAX_DISJOINT_DELTA:
            raise ValueError(
                f"max_delta={max_delta} must lie in (0, {MAX_DISJOINT_DELTA}]: larger values make the "
                "train and test colour sets overlap"
            )
        base = np.asarray(COLOUR_SET_BASES[name], dtype=np.float64)
        # Rounded so that the sets meet exactly at G = 0.5 (0.7 - 0.2 is 0.49999999999999994 in floats,
        # which would let the test set reach one ulp into the train set).
        low, high = np.round(base - max_delta, 12), np.round(base + max_delta, 12)
        return cls(np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0))

    def contains(self, colours: np.ndarray) -> np.ndarray:
        """Boolean mask over the leading axes: which RGB triples lie inside the closed box."""
        return np.all((colours >= self.low) & (colours <= self.high), axis=-1)


class ColourDistractor:
    """Draws and random-walks ``num_targets`` RGB colours inside one colour set's box.

    Args:
        num_targets: how many colours (materials or geom groups) are distracted.
        max_delta: half-width of the box around the set's base colour.
        step_std: standard deviation of the per-control-step random walk (0 = static per episode).
    """

    def __init__(self, num_targets: int, *, max_delta: float = 0.2, step_std: float = 0.0):
        if num_targets < 1:
            raise ValueError(f"num_targets must be positive, got {num_targets}")
        if step_std < 0:
            raise ValueError(f"step_std must be >= 0, got {step_std}")
        ColourBox.for_set("train", max_delta)  # validates max_delta once, up front
        self.num_targets = num_targets
        self.max_delta = max_delta
        self.step_std = step_std
        self.colours = np.zeros((num_targets, 3))
        self._box: ColourBox | None = None

    def reset(self, colour_set: str, rng: np.random.Generator) -> np.ndarray:
        """Start an episode in ``colour_set``: uniform colours inside its box."""
        self._box = ColourBox.for_set(colour_set, self.max_delta)
        self.colours = rng.uniform(self._box.low, self._box.high, size=(self.num_targets, 3))
        return self.colours

    def step(self, rng: np.random.Generator) -> np.ndarray:
        """One control step of the Gaussian random walk, clipped to the box."""
        if self._box is None:
            raise RuntimeError("ColourDistractor.step() called before reset()")
        if self.step_std > 0:
            walked = self.colours + rng.normal(0.0, self.step_std, size=self.colours.shape)
            self.colours = np.clip(walked, self._box.low, self._box.high)
        return self.colours
