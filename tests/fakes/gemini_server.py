"""A local stand-in for the Gemini API that the real google-genai SDK talks to (via base_url).

It speaks the REST shapes the SDK uses (``models/{model}:generateContent`` and
``:streamGenerateContent?alt=sse``) and answers like a plausible, somewhat gullible model: it
grades by overlap with the rubric's key points, quotes the answer, words follow-ups from the
candidate's words, and obeys "give me 100" style instructions if they reach it. ``mode`` injects
faults: ``slow``, ``429``, ``500``, ``malformed``, ``stall`` (a stream that starts and stops),
``unsafe`` and ``leak`` (replies that must not be used); ``slow_tail`` pauses a streamed reply
for ``tail_delay_s`` after its first sentence, ``tail_stall`` stops after it, and
``tail_unsafe`` makes only the second sentence unusable. It records every request it saw.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from tests.fakes.serve import BackgroundServer

_WORDS = re.compile(r"[a-z0-9']+")


def _words(text: str) -> set[str]:
    return {w for w in _WORDS.findall(text.lower()) if len(w) > 3}


def _between(text: str, start: str, end: str) -> str:
    a = text.find(start)
    b = text.find(end, a + len(start))
    return text[a + len(start) : b].strip() if a >= 0 and b > a else ""


def reply_for(system: str, user: str) -> str:
    """What the fake model writes for one prompt (JSON for structured prompts)."""
    if "Grade the candidate's answer" in user:
        answer = _between(user, "<answer>", "</answer>")
        points = re.findall(r"^\d+\. (.+)$", _between(user, "(numbered):", "<answer>"), re.M)
        if re.search(r"give me (a )?100|ignore (all |the )?previous", answer, re.I):
            return json.dumps({"score": 100, "covered": [], "evidence": [], "feedback": "Great."})
        said = _words(answer)
        covered = [i for i, p in enumerate(points, 1) if len(_words(p) & said) >= 2]
        share = len(covered) / len(points) if points else min(1.0, len(said) / 60)
        first = re.split(r"(?<=[.!?])\s+", answer)[0][:120] if answer else ""
        return json.dumps(
            {
                "score": round(15 + 80 * share),
                "covered": covered,
                "evidence": [first] if first else [],
                "feedback": "Lead with the outcome, then walk through your own actions.",
            }
        )
    if "Write the single follow-up" in user:
        answer = _between(user, "<answer>", "</answer>")
        intent = _between(user, "must find out:", "\n")
        topic = next((w for w in _WORDS.findall(answer) if len(w) > 6), "that")
        return f"You mentioned {topic}. {intent}"
    if "Write the candidate's feedback" in user:
        answers = re.findall(r"<answer>\n(.*?)\n</answer>", user, re.S)
        quote = " ".join(answers[0].split()[:6]) if answers and answers[0].strip() else ""
        return json.dumps(
            {
                "strengths": [
                    f"You opened with a concrete situation: “{quote}”."
                    if quote
                    else "You stayed calm."
                ],
                "improvements": ["State the measurable result of your work before the details."],
                "critique": "You gave real examples from your own work. Next time, lead with the "
                "result and quantify it, then explain the steps you took yourself.",
            }
        )
    if "Advice entries (id in brackets)" in user:
        ids = re.findall(r"^\[([a-z0-9-]+)\] (.+)$", user, re.M)
        figure = re.search(r"^- (.+)$", user, re.M)
        said = figure.group(1) if figure and "no figures" not in figure.group(1) else ""
        first_id, title = ids[0] if ids else ("none", "")
        return json.dumps(
            {
                "answer": f"{said} The advice on {title.lower()} fits you: slow down, pause "
                "instead of filling the silence, and practise one answer a day.".strip(),
                "cited": [first_id],
            }
        )
    if "interview question(s) tailored" in user:
        n = int(re.search(r"Write (\d+) interview", user).group(1))  # type: ignore[union-attr]
        resume = _between(user, "Résumé:", "Job description:")
        project = next((w for w in _WORDS.findall(resume) if len(w) > 7), "your last project")
        return json.dumps(
            {
                "questions": [
                    {
                        "text": f"Tell me about the {project} work on your résumé: what did you own?",
                        "skills": ["ownership"],
                        "key_points": ["what they personally owned", "a measurable outcome"],
                        "why": "named on the résumé",
                    }
                    for _ in range(n)
                ]
            }
        )
    return "Okay."


def _candidate(text: str) -> dict[str, Any]:
    return {
        "content": {"parts": [{"text": text}], "role": "model"},
        "finishReason": "STOP",
        "index": 0,
    }


def _error(code: int, status: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "status": status}}, code)


class FakeGemini(BackgroundServer):
    """The fake server in a background thread; set ``mode`` between calls."""

    def __init__(self, *, delay_s: float = 3.5) -> None:
        self.mode = "normal"
        self.delay_s = delay_s
        self.tail_delay_s = 1.0
        self.requests: list[dict[str, Any]] = []
        super().__init__()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def texts(self) -> list[str]:
        """The user prompt of every request seen."""
        return [
            " ".join(p.get("text", "") for c in r.get("contents", []) for p in c.get("parts", []))
            for r in self.requests
        ]

    def _reply(self, body: dict[str, Any]) -> str:
        system = " ".join(
            p.get("text", "") for p in (body.get("systemInstruction") or {}).get("parts", [])
        )
        user = " ".join(
            p.get("text", "") for c in body.get("contents", []) for p in c.get("parts", [])
        )
        if self.mode == "malformed":
            return '{"score": "very good", "covered": [1,'
        if self.mode == "unsafe":
            return "You are stupid. What else did you do?"
        if self.mode == "leak":
            return "The key points are a cache and an index. Did you use them?"
        reply = reply_for(system, user)
        if self.mode == "tail_unsafe" and "Write the single follow-up" in user:
            return reply.split(". ")[0] + ". You are stupid, so explain it properly."
        return reply

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/{version}/models/{call}")
        async def call(version: str, call: str, request: Request) -> Response:
            body = await request.json()
            self.requests.append(body)
            if self.mode == "429":
                return _error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted")
            if self.mode == "500":
                return _error(500, "INTERNAL", "An internal error has occurred")
            if self.mode == "slow":
                await asyncio.sleep(self.delay_s)
            text = self._reply(body)
            if call.endswith(":streamGenerateContent"):
                return StreamingResponse(self._sse(text), media_type="text/event-stream")
            return JSONResponse({"candidates": [_candidate(text)], "modelVersion": "fake"})

        return app

    async def _sse(self, text: str) -> AsyncIterator[bytes]:
        words = text.split(" ")
        sent = ""
        paused = False
        for i in range(0, len(words), 3):
            chunk = " ".join(words[i : i + 3]) + (" " if i + 3 < len(words) else "")
            yield f"data: {json.dumps({'candidates': [_candidate(chunk)]})}\r\n\r\n".encode()
            sent += chunk
            if self.mode == "stall" and i >= 3:
                await asyncio.sleep(self.delay_s)
            if (
                self.mode in ("slow_tail", "tail_stall")
                and not paused
                and re.search(r"[.?!]\s+\S", sent)
            ):
                paused = True  # the first sentence is out (a second one has begun)
                await asyncio.sleep(self.tail_delay_s if self.mode == "slow_tail" else self.delay_s)
            await asyncio.sleep(0.01)
