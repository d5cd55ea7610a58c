"""The livekit `Agent` that voices the interview graph.

A completed user turn resumes the LangGraph interview (through `InterviewRunner`) and the
graph's next line is spoken with `session.say`. No LLM runs inside livekit: every turn ends in
`StopResponse`. Turn-level rules come first: "could you repeat that?" repeats the question,
"let me think" makes the interviewer wait quietly and keeps listening, backchannels are ignored,
and the interviewer's own voice picked up by the microphone is dropped before it gets here
(see `VoiceInterview`'s STT filter).

Faults never leave the candidate waiting in silence: speech that produced no transcript (the
recogniser failed) is answered with a request to say it again; every graph step has a deadline,
and a failed or late step continues once from the interview's checkpoint (the answer is already
recorded there) before the interviewer pauses with a clear message and keeps retrying. An answer,
once submitted, is recorded even if the connection drops while it is being processed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from livekit.agents import Agent, llm
from livekit.agents.llm import StopResponse

from agent.brain.speech import remainder, speaking_early
from agent.interview import InterviewRunner, Step
from agent.voice.delivery import DeliveryCollector
from agent.voice.turns import classify_utterance, looks_unfinished
from prompts import load as load_prompt

logger = logging.getLogger("mockint.agent.voice")

EventSink = Callable[[dict[str, Any]], None]
"""Receives UI events (captions, transcript, state); must not block."""

VOICE_LINES = "voice_lines"
HOLD_REPLY = "Sure, take your time."
REPEAT_PREFIX = "Of course. "
NOT_CAUGHT = "Sorry, I didn't catch that. Could you say it again?"
"""Said when the candidate spoke but nothing was recognised (a recogniser fault or noise)."""
RESUME_LINE = "Welcome back. We were on this question: {question}"
"""Said on a reconnect instead of the greeting (or acknowledgement) heard before the drop."""
STALLED_LINE = "Sorry, I need a moment to catch up. Your answers so far are saved."
STALLED_MESSAGE = (
    "The interviewer ran into a problem and is paused. Your answers so far are saved; it "
    "will carry on by itself, or reload the page to continue."
)
_RECORDING: dict[str, set[asyncio.Task[Step]]] = {}
"""Answers being recorded, per interview, across connections: a reconnect waits for them."""
STEP_TIMEOUT_S = 20.0
"""Deadline of one interview graph step (an answer, the end, reading where the interview is)."""
STALL_RETRY_S = 10.0
"""How often a paused (stalled) interview tries to continue."""
NOT_CAUGHT_AFTER_S = 8.0
"""Silence after speech that produced no transcript before the interviewer asks to say it again."""


class SpokenReference:
    """What the interviewer is saying (for echo rejection), shared with the STT guard."""

    def __init__(self) -> None:
        self.text = ""
        self.until = 0.0

    def set(self, text: str, *, expected_s: float) -> None:
        """Record a line being spoken for about ``expected_s`` seconds."""
        self.text = text
        self.until = time.monotonic() + expected_s + 1.5

    def active(self) -> bool:
        """Whether echo of the current line may still arrive."""
        return bool(self.text) and time.monotonic() < self.until


class InterviewerAgent(Agent):
    """Speaks the graph's lines and feeds it the candidate's answers."""

    def __init__(
        self,
        *,
        runner: InterviewRunner,
        session_id: str,
        emit: EventSink,
        spoken: SpokenReference | None = None,
        on_finished: Callable[[Step], None] | None = None,
        hold_prompt_after_s: float = 25.0,
        no_answer_after_s: float = 30.0,
        continue_wait_s: float = 2.5,
        transcribing: Callable[[], bool] | None = None,
        max_transcript_wait_s: float = 20.0,
        collector: DeliveryCollector | None = None,
        ack_after_s: float = 1.5,
        resumed: bool = False,
    ) -> None:
        super().__init__(instructions="Offline interviewer: lines come from the interview graph.")
        self._resumed = resumed
        """A reconnect: continue with the pending question, without the greeting again."""
        self._runner = runner
        self._session_id = session_id
        self._emit = emit
        self.spoken = spoken or SpokenReference()
        self._on_finished = on_finished
        self._pending: Step | None = None
        self._lock = asyncio.Lock()
        self._hold_prompt_after_s = hold_prompt_after_s
        self._hold_task: asyncio.Task[None] | None = None
        self._no_answer_after_s = no_answer_after_s
        self._silence_task: asyncio.Task[None] | None = None
        self.paused = False
        self.answers_submitted = 0
        self.finished = False
        self._partial: list[str] = []
        self._submitted_at = 0.0  # wall clock (livekit's turn times) of the last submitted answer
        self._partial_task: asyncio.Task[None] | None = None
        self._user_speaking = False
        self.continue_wait_s = continue_wait_s
        self._transcribing = transcribing or (lambda: False)
        self._max_transcript_wait_s = max_transcript_wait_s
        self.collector = collector
        self._ack_after_s = ack_after_s
        self._late_acks = [str(x) for x in load_prompt(VOICE_LINES).data()["late_ack"]]
        self.late_acks_said = 0
        self.step_timeout_s = STEP_TIMEOUT_S
        """Deadline of one graph step; a late step counts as failed."""
        self.stall_retry_s = STALL_RETRY_S
        """Retry interval while the interview is stalled."""
        self.not_caught_after_s = NOT_CAUGHT_AFTER_S
        """Wait after unrecognised speech before asking the candidate to say it again."""
        self.stalled = False
        """A graph step failed twice: the interviewer said so and retries in the background."""
        self.closing = False
        """The connection is closing: nothing more is said and no new answer is taken."""
        self._unheard = False
        self._stall_task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[Step]] = set()

    def set_transcribing_probe(self, probe: Callable[[], bool]) -> None:
        """Tell the agent how to ask whether heard speech is still being transcribed."""
        self._transcribing = probe

    @property
    def pending(self) -> Step | None:
        """The step the interviewer is waiting on."""
        return self._pending

    def _say(self, text: str, *, allow_interruptions: bool = True) -> None:
        if self.closing:
            return
        self.spoken.set(text, expected_s=len(text.split()) / 2.6)
        self._emit({"type": "agent_said", "text": text, "t": time.monotonic()})
        try:
            self.session.say(text, allow_interruptions=allow_interruptions)
        except RuntimeError:  # the session is closing by itself; the caption was shown
            logger.warning("a line could not be spoken", extra={"session": self._session_id})

    async def on_enter(self) -> None:
        """Greet (or continue where the interview was) and ask the pending question."""
        async with self._lock:
            # An answer from an earlier connection of this interview may still be on its way
            # into the checkpoint: continue after it, not at the question it answered.
            loop = asyncio.get_running_loop()
            earlier = {t for t in _RECORDING.get(self._session_id, ()) if t.get_loop() is loop}
            if earlier:
                await asyncio.wait(earlier, timeout=3 * self.step_timeout_s)
            try:
                step = await asyncio.wait_for(
                    self._runner.current(self._session_id), self.step_timeout_s
                )
            except Exception:
                logger.exception(
                    "could not read where the interview is", extra={"session": self._session_id}
                )
                self._stall()
                return
            if self._resumed and step.question and not step.finished:
                # the greeting and any acknowledgement were heard before the drop
                step = replace(step, say=RESUME_LINE.format(question=step.question))
            await self._present(step)

    async def _present(self, step: Step, *, early: str | None = None) -> None:
        """Make ``step`` the pending line and say it (or finish), minus what was said early."""
        self._pending = step
        self._unheard = False
        if step.finished:
            await self._finish(step)
            return
        await self._emit_question(step)
        rest = remainder(step.say, early) if early else step.say
        if rest:
            self._say(rest)
        if early:
            self.spoken.set(step.say, expected_s=len(step.say.split()) / 2.6)

    async def on_user_turn_completed(
        self,
        turn_ctx: llm.ChatContext,  # noqa: ARG002  # livekit's hook signature
        new_message: llm.ChatMessage,
    ) -> None:
        """Route one completed user turn; never lets livekit generate a reply itself."""
        text = (new_message.text_content or "").strip()
        started = (new_message.metrics or {}).get("started_speaking_at")
        async with self._lock:
            await self._handle_turn(text, started_at=started)
        raise StopResponse()

    async def _handle_turn(self, text: str, *, started_at: float | None = None) -> None:
        """Take one user turn; ``started_at`` is when its speech began (wall clock), if known."""
        if self.finished or self.closing:
            return
        self._unheard = False
        if self.stalled:
            # The candidate spoke while the interview was stuck: try again now. What they said
            # is not taken as an answer (they have not heard the next question yet).
            if self.collector is not None:
                self.collector.discard()
            await self._try_unstall()
            return
        if self._pending is None:
            return
        if self.collector is not None and (started_at is None or started_at < self._submitted_at):
            # Speech from before the last answer was submitted: its transcript may have come
            # late, and words already in that answer must not answer the next question. (A
            # turn begun later is new speech, even when it repeats an earlier answer.)
            text = self.collector.fresh_text(text)
            if not text:
                return  # a late transcript of an answer already submitted
        kind = classify_utterance(text)
        self._emit({"type": "user_said", "text": text, "kind": kind, "t": time.monotonic()})
        if kind != "answer" and not self._partial and self.collector is not None:
            self.collector.discard()  # not part of an answer: keep it out of the delivery figures
        if kind in ("empty", "backchannel"):
            return
        if kind == "repeat":
            self._say(REPEAT_PREFIX + self._pending.question)
            return
        if kind == "hold":
            self._say(HOLD_REPLY)
            self._arm_hold_prompt()
            return
        self._cancel_hold_prompt()
        self._cancel_partial()
        text = " ".join([*self._partial, text])
        if looks_unfinished(text):
            # A thinking pause mid-sentence: keep listening instead of answering.
            self._partial = [text]
            if not self._user_speaking:
                self._partial_task = asyncio.create_task(self._submit_partial_later())
            return
        if self._transcribing():
            # Speech already heard is still being transcribed (a long answer on a slow
            # machine): the answer is not complete until those words are in.
            self._partial = [text]
            if not self._user_speaking:
                self._partial_task = asyncio.create_task(self._submit_when_transcribed())
            return
        self._partial = []
        await self._submit(text)

    async def _emit_question(self, step: Step) -> None:
        """Tell the page which question this is ("question 3 of 8"; follow-ups keep the number)."""
        number, total = 0, 0
        try:
            state = await self._runner.values(self._session_id)
            total = len(state.get("plan", []))
            number = sum(1 for t in state.get("turns", []) if t["kind"] == "main")
            number += 1 if step.kind == "main" else 0
        except Exception:
            logger.exception("could not read the interview's progress")
        self._emit(
            {
                "type": "question",
                "turn": step.turn,
                "kind": step.kind,
                "number": number,
                "of": total,
            }
        )

    def set_paused(self, paused: bool) -> None:
        """The candidate took a break: no "no answer" or "whenever you're ready" meanwhile."""
        self.paused = paused
        if paused:
            self._cancel_silence()
            self._cancel_hold_prompt()
        else:
            self.listening()

    def user_resumed(self) -> None:
        """The candidate started speaking again: a held partial answer keeps waiting."""
        self._user_speaking = True
        self._unheard = True  # until a transcript of this speech arrives as a turn
        self._cancel_partial()
        self._cancel_silence()

    def speaking(self) -> None:
        """The interviewer's voice started: the wait for an answer starts when it stops."""
        self._cancel_silence()

    def listening(self, *, after_s: float | None = None) -> None:
        """The interviewer stopped talking: start waiting for an answer (not forever).

        Args:
            after_s: How long to wait (default: the no-answer wait).
        """
        self._cancel_silence()
        if (
            self._pending is None
            or self.finished
            or self.stalled
            or self.closing
            or self.paused
            or self._user_speaking
            or self._partial
        ):
            return
        wait = self._no_answer_after_s if after_s is None else after_s
        self._silence_task = asyncio.create_task(self._no_answer_later(wait))

    def cancel_timers(self) -> None:
        """Stop every pending wait (the session is closing)."""
        self._cancel_hold_prompt()
        self._cancel_silence()
        self._cancel_partial()
        if self._stall_task is not None:
            self._stall_task.cancel()
            self._stall_task = None

    async def drain(self, within_s: float) -> None:
        """Wait (at most ``within_s`` seconds) until submitted answers are recorded."""
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=within_s)

    def _cancel_silence(self) -> None:
        if self._silence_task is not None:
            self._silence_task.cancel()
            self._silence_task = None

    async def _no_answer_later(self, wait_s: float) -> None:
        await asyncio.sleep(wait_s)
        if self._user_speaking or self._hold_task is not None:
            return  # re-armed when they stop; or the candidate asked for time (the hold prompt)
        if self._transcribing():
            # Speech is on its way to a transcript; a turn it produces cancels this wait. The
            # wait for it is bounded: a recogniser that never answers must not stop the
            # interview.
            await self._wait_transcribed()
            await asyncio.sleep(0.5)
        async with self._lock:
            if (
                self.finished
                or self.stalled
                or self.closing
                or self._pending is None
                or self._partial
                or self._user_speaking
                or self._silence_task is not asyncio.current_task()
            ):
                return
            self._silence_task = None
            if self._unheard:
                # The candidate said something but no transcript came (a recogniser fault):
                # not an empty answer; ask them to say it again.
                self._unheard = False
                logger.warning(
                    "speech was heard but not recognised", extra={"session": self._session_id}
                )
                self._emit({"type": "not_heard"})
                self._say(NOT_CAUGHT)
                return
            if wait_s < self._no_answer_after_s:
                # That speech did become a turn ("mm-hm", "let me think"): the whole wait for
                # an answer applies.
                self._silence_task = asyncio.create_task(
                    self._no_answer_later(self._no_answer_after_s - wait_s)
                )
                return
            self._emit({"type": "no_answer", "after_s": self._no_answer_after_s})
            await self._submit("")

    def user_paused(self) -> None:
        """The candidate stopped speaking: re-arm the wait for a held partial answer.

        Without a held answer the wait for an answer starts again, shorter: speech that never
        becomes a turn (noise, or a recogniser fault) must not leave the interviewer silent.
        """
        self._user_speaking = False
        if self._partial and self._partial_task is None and not self.finished:
            self._partial_task = asyncio.create_task(self._submit_partial_later())
        elif not self._partial:
            self.listening(after_s=min(self._no_answer_after_s, self.not_caught_after_s))

    def _cancel_partial(self) -> None:
        if self._partial_task is not None:
            self._partial_task.cancel()
            self._partial_task = None

    async def _submit_partial_later(self) -> None:
        await asyncio.sleep(self.continue_wait_s)
        if self._transcribing():
            # Speech the candidate already said is still being recognised (a slow machine):
            # its words belong to this answer, so wait for them to arrive as a turn.
            await self._wait_transcribed()
            await asyncio.sleep(self.continue_wait_s)
        await self._submit_held()

    async def _submit_when_transcribed(self) -> None:
        await self._wait_transcribed()
        await asyncio.sleep(0.2)  # let the last transcript reach the session
        await self._submit_held()

    async def _wait_transcribed(self) -> None:
        deadline = time.monotonic() + self._max_transcript_wait_s
        while self._transcribing() and time.monotonic() < deadline:  # noqa: ASYNC110  # a polled counter
            await asyncio.sleep(0.1)

    async def _submit_held(self) -> None:
        """Submit the held answer unless the candidate started talking again."""
        async with self._lock:
            if self.stalled or self.closing:
                return
            if self._partial and not self.finished and not self._user_speaking:
                text = " ".join(self._partial)
                self._partial = []
                self._partial_task = None
                await self._submit(text)

    async def _submit(self, text: str) -> None:
        self._submitted_at = time.time()
        self._cancel_silence()
        self._unheard = False
        if self.collector is not None:
            heard = self.collector.take_text()
            # Our own pieces hold every word transcribed for this answer, including words
            # the session's turn missed because they were transcribed after it ended.
            if len(heard.split()) > len(text.split()):
                text = heard
        self._emit({"type": "answer_submitted", "text": text})
        early: list[str] = []

        def speak_early(line: str) -> None:
            """The brain's checked first sentence, spoken while the rest is generated."""
            early.append(line)
            self._say(line)

        measured = asyncio.Event()
        with speaking_early(speak_early):
            # Its own task, shielded below: a connection that drops now does not cancel the
            # recording of an answer the candidate already finished.
            recording = asyncio.ensure_future(self._record(text, measured))
        self._inflight.add(recording)
        recording.add_done_callback(self._inflight.discard)
        shared = _RECORDING.setdefault(self._session_id, set())
        shared.add(recording)

        def forget(task: asyncio.Task[Step]) -> None:
            shared.discard(task)
            if not shared and _RECORDING.get(self._session_id) is shared:
                del _RECORDING[self._session_id]

        recording.add_done_callback(forget)
        waiter = asyncio.ensure_future(measured.wait())
        try:
            await asyncio.wait({recording, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        t0 = time.monotonic()
        done, _ = await asyncio.wait({recording}, timeout=self._ack_after_s)
        if not done and not early:
            # The next line is late (a slow brain step): a short natural acknowledgement.
            self._say(self._late_acks[self.late_acks_said % len(self._late_acks)])
            self.late_acks_said += 1
        try:
            step = await asyncio.shield(recording)
        except Exception:
            logger.exception(
                "an answer could not be taken through the interview; pausing",
                extra={"session": self._session_id},
            )
            self._stall()
            return
        self._emit({"type": "brain_timing", "ms": round((time.monotonic() - t0) * 1000, 1)})
        self.answers_submitted += 1
        await self._present(step, early=early[0] if early else None)

    async def _record(self, text: str, measured: asyncio.Event) -> Step:
        """Measure the answer's delivery, then take it through the graph."""
        delivery: dict[str, Any] | None = None
        span: tuple[float, float] | None = None
        try:
            if self.collector is not None:
                delivery, span = await self.collector.measure_answer()
                if delivery is not None:
                    self._emit({"type": "delivery", **_live_figures(delivery)})
        finally:
            measured.set()
        return await self._step(
            lambda: self._runner.answer(self._session_id, text, delivery=delivery, span=span)
        )

    async def _step(self, attempt: Callable[[], Awaitable[Step]]) -> Step:
        """One graph step with a deadline; after a failure, continue once from the checkpoint.

        The graph checkpoints the answer before analysing it, so reading the interview again
        finishes the interrupted work; if the failed step never got in, it is tried once more.

        Raises:
            Exception: When the retry fails too (the caller pauses the interview).
        """
        turn = self._pending.turn if self._pending is not None else None
        try:
            return await asyncio.wait_for(attempt(), self.step_timeout_s)
        except Exception:
            logger.warning(
                "an interview step failed or was late; continuing from its checkpoint",
                exc_info=True,
                extra={"session": self._session_id},
            )
        step = await asyncio.wait_for(self._runner.current(self._session_id), self.step_timeout_s)
        if step.finished or step.turn != turn:
            return step
        return await asyncio.wait_for(attempt(), self.step_timeout_s)

    def _stall(self) -> None:
        """Pause clearly after a failed step, and keep trying to continue in the background."""
        if not self.stalled:
            self.stalled = True
            self._cancel_silence()
            self._cancel_hold_prompt()
            self._cancel_partial()
            self._partial = []
            self._emit({"type": "error", "code": "interviewer_stalled", "message": STALLED_MESSAGE})
            self._say(STALLED_LINE)
        if self._stall_task is None and not self.closing:
            self._stall_task = asyncio.create_task(self._retry_stalled_later())

    async def _retry_stalled_later(self) -> None:
        await asyncio.sleep(self.stall_retry_s)
        async with self._lock:
            self._stall_task = None
            if self.stalled and not self.finished and not self.closing:
                await self._try_unstall()

    async def _try_unstall(self) -> None:
        """Try to continue a stalled interview (call with the lock held)."""
        try:
            step = await asyncio.wait_for(
                self._runner.current(self._session_id), self.step_timeout_s
            )
        except Exception:
            logger.warning(
                "the interview is still stuck", exc_info=True, extra={"session": self._session_id}
            )
            self._stall()
            return
        self.stalled = False
        if self._stall_task is not None:
            self._stall_task.cancel()
            self._stall_task = None
        self._emit({"type": "resumed"})
        await self._present(step)

    def _arm_hold_prompt(self) -> None:
        self._cancel_hold_prompt()
        self._hold_task = asyncio.create_task(self._hold_prompt())

    def _cancel_hold_prompt(self) -> None:
        if self._hold_task is not None:
            self._hold_task.cancel()
            self._hold_task = None

    async def _hold_prompt(self) -> None:
        await asyncio.sleep(self._hold_prompt_after_s)
        self._hold_task = None
        if self._pending is not None and not self.finished:
            self._say("Whenever you're ready. " + self._pending.question)

    async def end_now(self) -> None:
        """The candidate ended the interview: wrap up with what was answered."""
        async with self._lock:
            if self.finished:
                return
            try:
                step = await self._step(lambda: self._runner.end(self._session_id))
            except Exception:
                logger.exception(
                    "the interview could not be ended; pausing", extra={"session": self._session_id}
                )
                self._stall()
                return
            self.stalled = False
            await self._present(step)

    async def _finish(self, step: Step) -> None:
        self.finished = True
        self._cancel_hold_prompt()
        self._cancel_silence()
        if step.say:
            self._say(step.say, allow_interruptions=False)
        self._emit(
            {
                "type": "finished",
                "session_id": self._session_id,
                "overall_score": (step.report or {}).get("overall_score"),
            }
        )
        if self._on_finished is not None:
            self._on_finished(step)


def _live_figures(delivery: dict[str, Any]) -> dict[str, Any]:
    """The few numbers the live UI shows after an answer (no transcript, no face data)."""
    fluency = delivery.get("fluency") or {}
    presence = delivery.get("presence") or {}
    return {
        "wpm": fluency.get("wpm"),
        "fillers_per_min": fluency.get("fillers_per_min"),
        "pace": fluency.get("pace"),
        "eye_contact": presence.get("eye_contact_ratio"),
    }
