import numpy as np
import pytest

from diswm.envs import COLOUR_SET_BASES, ColourBox
from diswm.envs.distractors import ColourDistractor


def test_colour_boxes_match_the_official_ranges():
    train, test = ColourBox.for_set("train", 0.2), ColourBox.for_set("test", 0.2)
    np.testing.assert_allclose(train.low, [0.5, 0.1, 0.3])
    np.testing.assert_allclose(train.high, [0.9, 0.5, 0.7])
    np.testing.assert_allclose(test.low, [0.3, 0.5, 0.1])
    np.testing.assert_allclose(test.high, [0.7, 0.9, 0.5])


@pytest.mark.parametrize("max_delta", [0.05, 0.2])
def test_train_and_test_sets_never_overlap(max_delta):
    rng = np.random.default_rng(0)
    samples = {}
    for name in COLOUR_SET_BASES:
        distractor = ColourDistractor(13, max_delta=max_delta, step_std=0.2)
        colours = [distractor.reset(name, rng).copy()]
        colours += [distractor.step(rng).copy() for _ in range(300)]
        samples[name] = np.concatenate(colours)
    train, test = ColourBox.for_set("train", max_delta), ColourBox.for_set("test", max_delta)
    assert train.contains(samples["train"]).all() and test.contains(samples["test"]).all()
    # The sets are separated by green: train G <= 0.3 + delta <= 0.5 <= 0.7 - delta <= test G.
    assert samples["train"][:, 1].max() <= 0.5 <= samples["test"][:, 1].min()
    # No sample of one set lies strictly inside the other's box.
    def strictly_inside(box, colours):
        return np.all((colours > box.low) & (colours < box.high), axis=-1)

    assert not strictly_inside(test, samples["train"]).any()
    assert not strictly_inside(train, samples["test"]).any()


def test_random_walk_moves_and_stays_in_box():
    rng = np.random.default_rng(1)
    distractor = ColourDistractor(4, step_std=0.2)
    first = distractor.reset("train", rng).copy()
    second = distractor.step(rng).copy()
    assert not np.allclose(first, second)
    static = ColourDistractor(4, step_std=0.0)
    start = static.reset("test", rng).copy()
    np.testing.assert_array_equal(start, static.step(rng))


@pytest.mark.parametrize("kwargs", [{"max_delta": 0.3}, {"max_delta": 0.0}, {"step_std": -1.0}])
def test_bad_distractor_settings_are_rejected(kwargs):
    with pytest.raises(ValueError):
        ColourDistractor(3, **kwargs)


def test_unknown_colour_set_is_rejected():
    with pytest.raises(ValueError, match="unknown colour set"):
        ColourDistractor(3).reset("purple", np.random.default_rng(0))
