import pytest
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


def test_an_interrupt_during_a_write_arrives_after_the_file_is_in_place(tmp_path):
    """SIGTERM (as `timeout`, Ray and Docker send it) in the middle of a checkpoint write: the write completes,
    then the interrupt is raised, so a run stops as INTERRUPTED with its file whole, not FAILED mid-write."""
    import os
    import signal

    from diswm.atomic import atomic_writer

    def interrupt(signum, frame):
        raise KeyboardInterrupt("signal SIGTERM")

    previous = signal.signal(signal.SIGTERM, interrupt)
    written = []
    try:
        with pytest.raises(KeyboardInterrupt):
            with atomic_writer(tmp_path / "state.bin") as handle:
                handle.write(b"first half, ")
                os.kill(os.getpid(), signal.SIGTERM)  # pending until the write ends
                handle.write(b"second half")
                written.append(True)
        assert written and (tmp_path / "state.bin").read_bytes() == b"first half, second half"
        assert not list(tmp_path.glob(".*.tmp"))
    finally:
        signal.signal(signal.SIGTERM, previous)
