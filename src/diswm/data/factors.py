"""Frames with ground-truth factors for disentanglement metrics.

Protocol (fixed by ``seed``): random-policy episodes in one colour set; every ``stride``-th agent step
is kept (only those frames are rendered). Factors per frame: the RGB of every *visible* distracted
colour target (DMC: materials that reach the pixels; Pusher: table and arm) and the physics ``qpos``.
Continuous factors are discretised into ``num_bins`` equal-width bins over the training sample's
[min, max] (the test sample uses the same edges, clipped), and factors with a single class are dropped
with a warning. The first ``num_train`` frames are the training split, the next ``num_test`` the test split.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from diswm.atomic import atomic_writer
from diswm.data.rollout import RandomPolicy, episode_seed
from diswm.envs import EnvSpec, make_env_from_spec
from diswm.envs.base import extra_factors
from diswm.scales import EVALUATE

FACTOR_STREAM = 2


@dataclass(frozen=True)
class FactorDatasetConfig:
    task: str
    colour_set: str = "train"
    num_train: int = EVALUATE["paper"].num_train  # the sizes default to the paper scale's (diswm.scales)
    num_test: int = EVALUATE["paper"].num_test
    num_bins: int = 10
    stride: int = 10  # agent steps between kept frames
    seed: int = 0
    render_quality: str = "default"
    size: int = 64

    def cache_name(self) -> str:
        return (f"{self.task}-{self.colour_set}-n{self.num_train}+{self.num_test}-bins{self.num_bins}"
                f"-stride{self.stride}-{self.render_quality}-seed{self.seed}.npz")


@dataclass
class FactorDataset:
    images: np.ndarray  # uint8 [N, H, W, 3]
    values: np.ndarray  # float32 [N, F], continuous factors
    classes: np.ndarray  # int64 [N, F'], discretised, constant factors dropped
    names: list[str]  # F' names of the kept factors
    columns: list[int]  # their columns in ``values``
    num_train: int

    def split(self, array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return array[: self.num_train], array[self.num_train :]


def generate_frames(config: FactorDatasetConfig, progress: bool = False):
    spec = EnvSpec(config.task, distractor=config.colour_set, seed=config.seed, size=config.size,
                   render_quality=config.render_quality)
    env = make_env_from_spec(spec)
    total = config.num_train + config.num_test
    images, values = [], []
    visible = getattr(env, "visible_colour_names", env.colour_names)
    rows = [env.colour_names.index(name) for name in visible]
    names = [f"{name}.{channel}" for name in visible for channel in "rgb"]
    policy = RandomPolicy(env.action_space.shape[0])
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc=f"factor frames {config.task}", unit="frame")
    try:
        episode = 0
        while len(images) < total:
            seed = episode_seed(config.seed, episode, FACTOR_STREAM)
            env.render_images = False
            env.reset(seed=seed)
            policy.reset(np.random.default_rng([seed, 1]))
            step, done = 0, False
            while not done and len(images) < total:
                step += 1
                env.render_images = step % config.stride == 0
                observation, _, terminated, truncated, info = env.step(policy.act(observation={}))
                done = terminated or truncated
                if env.render_images:
                    images.append(observation["image"])
                    factors = info["factors"]
                    extra = extra_factors(factors)
                    values.append(np.concatenate([factors["colours"][rows].reshape(-1),
                                                  *(np.ravel(v) for v in extra.values()), factors["qpos"]]))
                    if bar is not None:
                        bar.update(1)
            episode += 1
        names += [name for name, value in extra.items() for _ in range(np.size(value))]  # e.g. DrawerWorld's texture
        qpos_names = [f"qpos.{i}" for i in range(len(values[0]) - len(names))]
    finally:
        env.close()
        if bar is not None:
            bar.close()
    return np.stack(images), np.stack(values).astype(np.float32), names + qpos_names


def discretise(values: np.ndarray, names: list[str], num_train: int, num_bins: int):
    """Equal-width bins over the training rows' range; constant or single-class factors are dropped."""
    classes, kept, columns = [], [], []
    for j, name in enumerate(names):
        column = values[:, j].astype(np.float64)
        low, high = column[:num_train].min(), column[:num_train].max()
        if high <= low:
            warnings.warn(f"factor {name} is constant; dropped", stacklevel=2)
            continue
        edges = np.linspace(low, high, num_bins + 1)[1:-1]
        labels = np.digitize(np.clip(column, low, high), edges)
        if len(np.unique(labels[:num_train])) < 2:
            warnings.warn(f"factor {name} has a single class; dropped", stacklevel=2)
            continue
        classes.append(labels)
        kept.append(name)
        columns.append(j)
    return np.stack(classes, 1).astype(np.int64), kept, columns


def load_or_generate(config: FactorDatasetConfig, cache_dir: Path | str, progress: bool = False) -> FactorDataset:
    """The dataset from ``cache_dir`` when present (same settings), else generated and cached atomically."""
    path = Path(cache_dir) / config.cache_name()
    if path.is_file():
        with np.load(path, allow_pickle=False) as data:
            images, values, names = data["images"], data["values"], list(data["names"])
    else:
        images, values, names = generate_frames(config, progress)
        with atomic_writer(path) as handle:
            np.savez_compressed(handle, images=images, values=values, names=np.array(names),
                                config=np.array(str(asdict(config))))
    classes, kept, columns = discretise(values, names, config.num_train, config.num_bins)
    return FactorDataset(images=images, values=values, classes=classes, names=kept, columns=columns,
                         num_train=config.num_train)
