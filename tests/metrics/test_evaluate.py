import json

import numpy as np
import pytest
import torch
from sacred.observers import FileStorageObserver

from diswm.checkpoint import save_checkpoint
from diswm.data.factors import FactorDatasetConfig, load_or_generate
from diswm.metrics.evaluate import build_encoder, disentanglement_scores, encode_means, encoder_state
from diswm.models import BetaVAEEncoder
from diswm_app.experiments.evaluate import ex

SMALL = {"num_train": 120, "num_test": 60, "stride": 5}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    config = FactorDatasetConfig("reacher_easy", render_quality="fast", **SMALL)
    return load_or_generate(config, tmp_path_factory.mktemp("factors"))


def test_constant_factors_are_dropped_with_a_warning():
    from diswm.data.factors import discretise

    values = np.stack([np.arange(10.0), np.full(10, 3.0), np.r_[np.zeros(9), 1.0]], 1)
    with pytest.warns(UserWarning, match="constant"):
        classes, names, columns = discretise(values, ["a", "b", "c"], num_train=8, num_bins=4)
    assert names == ["a"] and columns == [0] and classes[:, 0].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 3, 3]


def test_factor_dataset_protocol(dataset, tmp_path):
    assert dataset.images.shape == (180, 64, 64, 3) and dataset.images.std() > 0
    assert dataset.classes.shape[1] == len(dataset.names) and dataset.classes.min() >= 0
    assert dataset.classes.max() <= 9
    assert {"grid.r", "self.g", "qpos.0"} <= set(dataset.names)
    again = load_or_generate(FactorDatasetConfig("reacher_easy", render_quality="fast", **SMALL), tmp_path)
    np.testing.assert_array_equal(again.images, dataset.images)  # same seed, same frames and factors
    np.testing.assert_array_equal(again.values, dataset.values)


@pytest.mark.slow
def test_identity_encoder_beats_an_untrained_one(dataset):
    torch.manual_seed(0)
    untrained = encode_means(BetaVAEEncoder(20), dataset.images)
    identity = dataset.values[:, dataset.columns].astype(np.float64)  # codes that are the factors themselves
    ours = disentanglement_scores(untrained, dataset)
    ideal = disentanglement_scores(identity, dataset)
    assert ideal["mig"] > ours["mig"] + 0.3
    assert ideal["dci_disentanglement"] > ours["dci_disentanglement"]
    for value in ours.values():
        assert 0.0 <= value <= 1.0


@pytest.mark.slow
def test_evaluate_experiment_scores_and_caches(tmp_path):
    torch.manual_seed(0)
    checkpoint = tmp_path / "ckpt" / "latest.pt"
    encoder = BetaVAEEncoder(20, widths=(8, 8, 8, 8, 16))
    save_checkpoint(checkpoint, {"model": {f"encoder.{k}": v for k, v in encoder.state_dict().items()}})
    assert build_encoder(encoder_state(checkpoint)).head.weight.shape == (40, 16)
    observer = FileStorageObserver(str(tmp_path / "runs"))
    ex.observers.append(observer)
    try:
        updates = {"checkpoint": str(checkpoint), "task": "cartpole_swingup", "cache_dir": str(tmp_path / "cache"),
                   **SMALL}
        first = ex.run(named_configs=["smoke"], config_updates=updates)
        second = ex.run(named_configs=["smoke"], config_updates=updates)
    finally:
        ex.observers.remove(observer)
    assert first.result == second.result
    assert all(0.0 <= v <= 1.0 for v in first.result.values())
    info = json.loads((tmp_path / "runs" / str(second._id) / "info.json").read_text())
    assert "cached" in info  # the second call read the scores file
    scores = json.loads(next((tmp_path / "ckpt" / "metrics").glob("*.json")).read_text())
    assert scores["scores"] == first.result and scores["identity"]["part"] == "encoder"
    with pytest.raises(Exception, match="no β-VAE teacher"):
        encoder_state(checkpoint, "teacher")
