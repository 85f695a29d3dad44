import torch

from diswm.checkpoint import config_differences, load_checkpoint, save_checkpoint


def test_config_differences_name_changed_keys_and_accept_new_fields():
    saved = {"lr": 3e-4, "rssm": {"deter": 200, "stoch": 50}, "widths": [32, 64]}
    assert config_differences(saved, {**saved, "widths": (32, 64), "new_flag": False}) == []
    changed = {"lr": 1e-3, "rssm": {"deter": 200, "stoch": 32}, "widths": (32, 64)}
    assert config_differences(saved, changed) == ["lr: 0.0003 -> 0.001", "rssm.stoch: 50 -> 32"]
    assert config_differences(saved, {"rssm": saved["rssm"], "widths": [32, 64]}) == [
        "lr: 0.0003 -> (no longer a setting)"]
    moved = {**saved, "out_dir": "/old/place", "teacher_path": "/old/encoder.pt"}
    assert config_differences(moved, {**saved, "out_dir": "/new/place", "teacher_path": None}) == []
    on_gpu = {**saved, "device": "cuda", "compile": True}  # a GPU run continued on a CPU, and back
    assert config_differences(on_gpu, {**saved, "device": "cpu", "compile": False}) == []


def test_checkpoint_round_trip_is_atomic(tmp_path):
    digest = save_checkpoint(tmp_path / "a.pt", {"w": torch.arange(3), "n": 1})
    assert len(digest) == 64 and [p.name for p in tmp_path.iterdir()] == ["a.pt"]
    state = load_checkpoint(tmp_path / "a.pt")
    assert torch.equal(state["w"], torch.arange(3)) and state["n"] == 1
