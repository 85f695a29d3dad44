"""Episode files, replay and data collection."""

from diswm.data.episodes import (
    REQUIRED_KEYS,
    EpisodeFileError,
    EpisodeRecorder,
    episode_name,
    load_episode,
    save_episode,
    validate_episode,
)
from diswm.data.replay import EpisodeReplay, ReplayError

__all__ = [
    "REQUIRED_KEYS", "EpisodeFileError", "EpisodeRecorder", "EpisodeReplay", "ReplayError",
    "episode_name", "load_episode", "save_episode", "validate_episode",
]
