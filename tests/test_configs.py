"""One source of configuration: every stage's Sacred config is its config dataclass as nested dicts, built by
the one function of :mod:`diswm.configs`, and agrees with the scale tables; the dataclasses' own defaults are
the paper row; bare leaf names set the nested settings."""

from dataclasses import fields

import pytest

from diswm.agents.behavior import BehaviorConfig
from diswm.agents.video_model import PretrainConfig
from diswm.agents.world_model import WorldModelConfig
from diswm.config_io import dataclass_from_dict
from diswm.configs import (
    METHODS,
    as_dict,
    collect_config,
    evaluate_config,
    finetune_config,
    leaf_paths,
    method_root,
    pretrain_config,
    source_agent_config,
)
from diswm.data.collect import CollectConfig
from diswm.data.factors import FactorDatasetConfig
from diswm.models import RSSMConfig
from diswm.records import flat_config
from diswm.scales import COLLECT, EVALUATE, FINETUNE, NETS, PRETRAIN, SCALE_NAMES, SOURCE_AGENT
from diswm.training.finetune import FinetuneConfig
from diswm_app.experiments import collect, evaluate, finetune, pretrain, source_agent
from diswm_app.experiments.common import stage_settings

#: where a run's inputs and outputs are: set by the experiment, not by the builder
LOCATIONS = {"out_dir", "teacher_path", "init_from", "data_dir", "dataset_sha256", "policy_sha256", "progress"}


def sacred(experiment, *named: str, **updates) -> dict:
    return dict(experiment.run("print_config", named_configs=list(named), config_updates=updates,
                               options={"--loglevel": "ERROR"}).config)


def assert_sections_equal(config: dict, built, skip: set[str] = frozenset()) -> None:
    """Every field of the built dataclass is in the Sacred config with the built value, and every key of the
    Sacred config is a field or one of the experiment's declared top-level keys."""
    expected = as_dict(built)
    for name in expected:
        if name not in LOCATIONS | skip:
            assert config[name] == expected[name], name


def assert_scale_rows(config: dict, *rows) -> None:
    """Every value of the scale rows is in the config under its own name."""
    leaves = flat_config(config)
    for row in rows:
        for field in fields(row):
            value = getattr(row, field.name)
            assert leaves[field.name] == (list(value) if isinstance(value, tuple) else value), field.name


@pytest.mark.parametrize("scale", SCALE_NAMES)
@pytest.mark.parametrize("method", [*METHODS, "diswm_official"])
def test_finetune_config_is_the_builders_for_every_method_and_scale(scale, method):
    for task, source in (("reacher_easy", "finger_spin"), ("pusher", "cheetah_run")):
        config = sacred(finetune.ex, method_root(method), scale, method=method, task=task, source=source, seed=2)
        built = finetune_config(scale=scale, method=method, task=task, source=source, seed=2, device=config["device"])
        assert_sections_equal(config, built)
        assert_scale_rows(config, FINETUNE[scale], NETS[scale])
        assert set(config) == {f.name for f in fields(FinetuneConfig)} | set(finetune.TOP_LEVEL)
        back = dataclass_from_dict(FinetuneConfig, {**config, "out_dir": "", "teacher_path": None, "init_from": None})
        assert back == built  # and back, with one helper


@pytest.mark.parametrize("scale", SCALE_NAMES)
def test_the_other_stages_configs_are_their_builders(scale):
    config = sacred(source_agent.ex, "finger_spin", scale)
    built = source_agent_config(scale=scale, task="finger_spin", device=config["device"])
    assert_sections_equal(config, built, skip={"env_steps", "step_unit"})  # the budget is `frames`
    assert source_agent.agent_settings(config) == dataclass_from_dict(FinetuneConfig, {**as_dict(built), "out_dir":
                                                                              config["out_dir"]})
    assert_scale_rows(config, SOURCE_AGENT[scale], NETS[scale])
    for image_model in ("beta_vae", "conv"):
        config = sacred(pretrain.ex, "finger_spin", scale, *(["conv"] if image_model == "conv" else []))
        built = pretrain_config(scale=scale, task="finger_spin", image_model=image_model, device=config["device"])
        assert_sections_equal(config, built)
        assert_scale_rows(config, PRETRAIN[scale])
    config = sacred(collect.ex, "walker_walk", scale, seed=3)
    assert_sections_equal(config, collect_config(scale=scale, task="walker_walk", seed=3))
    assert_scale_rows(config, COLLECT[scale])
    config = sacred(evaluate.ex, scale, task="reacher_easy")
    assert_sections_equal(config, evaluate_config(scale=scale, task="reacher_easy"))
    assert_scale_rows(config, EVALUATE[scale])


def test_the_dataclass_defaults_are_the_paper_row_and_nothing_else_repeats_them():
    """A library dataclass's default for a scaled setting is the paper scale's (read from the table); β and β2
    are defined once (the method table reads them); η's schedule has no defaults outside WorldModelConfig."""
    import dataclasses
    import inspect

    from diswm.agents.distill import eta
    from diswm.envs import EnvSpec

    tables = [(FinetuneConfig, [FINETUNE]), (WorldModelConfig, [NETS, FINETUNE]), (BehaviorConfig, [NETS]),
              (RSSMConfig, [NETS]), (PretrainConfig, [NETS, PRETRAIN]), (FactorDatasetConfig, [EVALUATE]),
              (EnvSpec, [FINETUNE]), (CollectConfig, [COLLECT])]
    checked = []
    for cls, rows in tables:
        for field in fields(cls):
            row = next((table["paper"] for table in rows if hasattr(table["paper"], field.name)), None)
            if row is not None and field.default is not dataclasses.MISSING:
                assert field.default == getattr(row, field.name), (cls.__name__, field.name)
                checked.append(f"{cls.__name__}.{field.name}")
    assert len(checked) >= 30, checked
    assert METHODS["diswm"]["beta"] == WorldModelConfig.beta
    assert METHODS["diswm"]["pretrain_beta"] == PretrainConfig.beta
    assert all(parameter.default is inspect.Parameter.empty
               for name, parameter in inspect.signature(eta).parameters.items() if name != "step")


def test_a_bare_leaf_name_sets_every_entry_of_that_name_and_top_level_keys_keep_theirs():
    assert leaf_paths(FinetuneConfig)["units"] == [("world_model", "units"), ("behavior", "units")]
    config = sacred(finetune.ex, "diswm", "smoke", eta_max=0.05, units=7, time_limit=30, task="walker_walk", seed=4)
    assert config["world_model"]["eta_max"] == 0.05
    assert config["world_model"]["units"] == config["behavior"]["units"] == 7
    assert config["env"]["time_limit"] == 30
    assert (config["task"], config["env"]["task"], config["seed"], config["env"]["seed"]) == (
        "walker_walk", "walker_walk", 4, 4)  # task and seed are the run's own keys; env's copies follow
    nested = sacred(finetune.ex, "diswm", "smoke", world_model={"eta_max": 0.05})
    assert nested["world_model"]["eta_max"] == 0.05 and nested["out_dir"] == \
        sacred(finetune.ex, "diswm", "smoke", eta_max=0.05)["out_dir"]  # both spellings: one run, one folder
    with pytest.raises(ValueError, match="set task= and seed="):
        stage_settings(FinetuneConfig, sacred(finetune.ex, "diswm", "smoke", env={"task": "walker_walk"}))


def test_a_changed_z_dim_reaches_the_teacher_folder_and_the_model():
    """A setting that others follow (z_dim: the teacher's folder, the RSSM's embedding) needs one override."""
    import torch

    from diswm.agents.world_model import WorldModel

    config = sacred(finetune.ex, "diswm", "smoke", z_dim=5)
    assert "/beta0.015_z5/" in config["teacher_path"]
    model = WorldModel(stage_settings(FinetuneConfig, {**config, "out_dir": "x"}).world_model)
    assert model.rssm.config.embed == 5 and model.embed(torch.zeros(1, 3, 64, 64))[0].shape == (1, 5)


@pytest.mark.parametrize("method", ["dv2_finetune", "apv"])
def test_a_drawerworld_finetune_loads_the_pretrained_rssm_of_a_dmc_source(tmp_path, method):
    """DrawerWorld builds a plain gru (released metaworld config), but the RSSM loaded from a pretraining run keeps
    that run's gru_layer_norm cell: DV2 Finetune's whole RSSM, APV's action-free one (APV's action-conditional
    RSSM is DrawerWorld's plain gru)."""
    import torch

    from diswm.agents.video_model import VideoModel
    from diswm.agents.world_model import WorldModel
    from diswm.checkpoint import save_checkpoint
    from diswm.training.finetune import load_pretrained

    video = VideoModel(pretrain_config(scale="smoke", task="finger_spin", image_model="conv"))
    for name in ("encoder", "decoder", "rssm"):
        save_checkpoint(tmp_path / f"{name}.pt", getattr(video, name).state_dict())
    config = finetune_config(scale="smoke", method=method, task="drawer_open", source="finger_spin")
    model = WorldModel(config.world_model)
    load_pretrained(model, tmp_path)
    loaded = model.rssm if method == "dv2_finetune" else model.rssm_af
    assert torch.equal(loaded.cell.norm.weight, video.rssm.cell.norm.weight)
    if method == "apv":
        assert "cell.norm.weight" not in model.rssm.state_dict()  # the new action-conditional RSSM: plain gru
    assert "cell.norm.weight" not in WorldModel(finetune_config(
        scale="smoke", method="dreamerv2", task="drawer_open", source="finger_spin").world_model).rssm.state_dict()
