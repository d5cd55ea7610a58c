from __future__ import annotations

import re

import pytest

import prompts
from agent.brain.policy import Phrases

pytestmark = pytest.mark.unit

REQUIRED = [
    "greeting",
    "first_question",
    "ack_strong",
    "ack_ok",
    "ack_weak",
    "transition.technical",
    "transition.behavioural",
    "transition.closing",
    "transition.other",
    "harder",
    "easier",
    "follow_up.situation",
    "follow_up.task",
    "follow_up.action",
    "follow_up.result",
    "follow_up.numbers",
    "follow_up.example",
    "follow_up.too_short",
    "follow_up.off_topic",
    "rephrase",
    "move_on_after_non_answer",
    "off_language",
    "injection_notice",
    "time_short",
    "wrap_up",
]
FORMAT_VARS = {"name", "interviewer", "role", "minutes", "count", "question", "topic"}


def test_every_prompt_loads_with_a_stable_ref() -> None:
    names = prompts.available()
    assert "offline_interviewer" in names
    for name, versions in names.items():
        for v in versions:
            p = prompts.load(name, v)
            assert p.ref.name == name and p.ref.version == v
            assert re.fullmatch(r"[0-9a-f]{64}", p.ref.sha256)
            if p.kind == "yaml":
                assert p.data()


@pytest.mark.parametrize("persona", ["friendly", "neutral", "challenging"])
def test_phrase_bank_complete_for_each_persona(persona: str) -> None:
    bank = prompts.load("offline_interviewer").data()
    assert persona in bank["personas"]
    ph = Phrases(bank, persona)
    for key in REQUIRED:
        for text in ph.variants(key, **dict.fromkeys(FORMAT_VARS, "X")):
            assert text.strip()
            assert "{" not in text, (persona, key, text)


def test_unknown_prompt_and_version() -> None:
    with pytest.raises(KeyError):
        prompts.load("nope")
    with pytest.raises(KeyError):
        prompts.load("offline_interviewer", 99)


def test_markdown_prompt_variables_and_render(tmp_path) -> None:
    p = prompts.Prompt(prompts.PromptRef("t", 1, "0" * 64), 'Hi $name, JSON {"a": 1} ${role}', "md")
    assert p.variables == {"name", "role"}
    assert p.render(name="A", role="B") == 'Hi A, JSON {"a": 1} B'
    with pytest.raises(KeyError):
        p.render(name="A")
