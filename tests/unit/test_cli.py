"""Tests for the `interviewer` command line (agent.cli) through typer's CliRunner.

The commands run in-process with the real offline brain (provisioned MiniLM encoder), the real
flow loader and the real report writer; settings come from the isolated MOCKINT_* environment
set up by the autouse fixture in conftest.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from agent.cli import app

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
MINI_FLOW = REPO / "tests" / "data" / "mini_flow.yaml"
SHIPPED = sorted((REPO / "agent" / "coach" / "flows").glob("*.yaml"))
INTERVIEWER = Path(sys.executable).parent / "interviewer"

# `<path>:<line>: <message>` or `<path>: <message>` (unreadable files, no line to point at).
ISSUE_LINE = re.compile(r"^(?P<path>.+?):(?:(?P<line>\d+):)? (?P<msg>\S.*)$")
SUMMARY_LINE = re.compile(r"^\d+ of \d+ file\(s\) invalid$")

STRONG_ANSWERS = [
    "I'm a backend engineer with six years of experience, mostly in Python and PostgreSQL. At my "
    "current company I lead a team of four that owns the payments API, which handles about two "
    "million requests a day. Last year I led the migration from a monolith to three services and "
    "cut p95 latency by forty percent. I'm looking for a role where I can go deeper on "
    "distributed systems and mentor more, and your platform team's work on high-volume APIs is "
    "exactly that.",
    "First I would measure before changing anything: I'd look at the metrics and traces to see "
    "where the time goes, profile the endpoint, and run EXPLAIN ANALYZE on the slow queries to "
    "find the bottleneck. Very often the problem is in the database, so I'd add a missing index, "
    "rewrite the query to avoid an N+1 pattern by using a join, and only select the columns we "
    "need. If the same expensive data is read on every request, I'd add a cache such as Redis in "
    "front of the database with a sensible TTL and explicit invalidation when the data changes. "
    "For example, on our orders endpoint an index plus a Redis cache with a five minute TTL took "
    "p95 from 1.2 seconds to 180 milliseconds. Finally I'd verify with the same metrics that the "
    "fix worked.",
    "In my last role I disagreed with a teammate about whether to move our job queue from "
    "Postgres to Kafka. The situation was that the queue was slowing down under load and a "
    "launch was three weeks away, so a lot was at stake. He wanted to switch to Kafka; I argued "
    "we could fix the Postgres queue with SKIP LOCKED and better indexes. I listened to his "
    "concerns about future scale, and instead of arguing further we agreed to build a small "
    "prototype of each and compare them with a benchmark using production-like data. The result "
    "was that the Postgres fix handled five times our peak load, so we shipped it on time and "
    "wrote down the threshold at which we would revisit Kafka. In the end we both felt heard and "
    "I learned to propose a test early.",
    "In my first three months I'd like to learn how your services fit together, the on-call and "
    "incident process, and how the team decides on architecture, so I can start contributing to "
    "design reviews and ship a meaningful improvement to the API layer.",
]

WEAK_ANSWERS = [
    "I like computers.",
    "I would make it faster somehow.",
    "I don't really remember anything like that.",
    "Not sure.",
    "No idea.",
    "Maybe.",
    "Pass.",
]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, args: Sequence[str]) -> Any:
    result = runner.invoke(app, list(args), catch_exceptions=True)
    # A crash would surface as an exception other than SystemExit: never acceptable here.
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(
            f"interviewer {' '.join(args)} crashed: {result.exception!r}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        ) from result.exception
    return result


def write_answers(path: Path, answers: Any) -> Path:
    path.write_text(yaml.safe_dump(answers, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def simulate(
    runner: CliRunner, tmp_path: Path, answers: Any, out: str, *extra: str, flow: str | None = None
) -> tuple[Any, Path]:
    answers_file = write_answers(tmp_path / f"{out}-answers.yaml", answers)
    out_dir = tmp_path / out
    result = invoke(
        runner,
        [
            "simulate",
            "--flow",
            flow or str(MINI_FLOW),
            "--answers",
            str(answers_file),
            "--out",
            str(out_dir),
            *extra,
        ],
    )
    return result, out_dir


def load_report(out_dir: Path) -> dict[str, Any]:
    return json.loads((out_dir / "report.json").read_text(encoding="utf-8"))


def check_report_shape(report: dict[str, Any]) -> None:
    assert report["schema_version"] == "1.3"
    assert isinstance(report["overall_score"], int | float)
    assert 0 <= report["overall_score"] <= 100
    assert isinstance(report["questions"], list)
    main_indexes: set[int] = set()
    for q in report["questions"]:
        assert isinstance(q["question"], str) and q["question"].strip()
        assert isinstance(q["answer"], str)
        assert isinstance(q["score"], int | float) and 0 <= q["score"] <= 100
        assert isinstance(q["evidence"], list)
        assert all(isinstance(e, str) for e in q["evidence"])
        fu = q["follow_up_of"]
        if fu is None:
            assert q["kind"] == "main"
            main_indexes.add(q["index"])
        else:
            assert isinstance(fu, int) and not isinstance(fu, bool)
            assert q["kind"] == "follow_up"
            assert fu < q["index"]
            assert fu in main_indexes, f"follow_up_of={fu} is not an earlier main question"
    for key in ("strengths", "improvements"):
        assert isinstance(report[key], list)
        assert all(isinstance(s, str) and s for s in report[key])
    assert isinstance(report["critique"], str) and report["critique"].strip()


# --------------------------------------------------------------------------------------- flows


def test_flows_list_prints_one_line_per_shipped_flow(runner: CliRunner) -> None:
    from agent.coach.loader import shipped_flows

    result = invoke(runner, ["flows", "list"])
    assert result.exit_code == 0, result.stderr
    lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    flows = shipped_flows()
    assert len(lines) == len(flows) == len(SHIPPED)
    assert sorted(ln.split()[0] for ln in lines) == sorted(flows)
    assert any(ln.startswith("backend") for ln in lines)
    for ln in lines:
        fid = ln.split()[0]
        assert f"{flows[fid].question_count} questions" in ln


def test_at_least_ten_flows_ship(runner: CliRunner) -> None:
    result = invoke(runner, ["flows", "list"])
    assert result.exit_code == 0
    lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    assert len(lines) >= 10, f"only {len(lines)} flows ship: {[ln.split()[0] for ln in lines]}"


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_flows_validate_accepts_every_shipped_flow(runner: CliRunner, path: Path) -> None:
    result = invoke(runner, ["flows", "validate", str(path)])
    assert result.exit_code == 0, result.stderr
    assert f"{path}: OK" in result.stdout
    assert result.stderr.strip() == ""


def test_flows_validate_accepts_the_test_flow(runner: CliRunner) -> None:
    result = invoke(runner, ["flows", "validate", str(MINI_FLOW)])
    assert result.exit_code == 0, result.stderr
    assert "OK (mini," in result.stdout


GOOD_FLOW = """\
id: tiny
title: Tiny flow
role: Backend engineer
sections:
  - id: intro
    title: Introduction
    kind: intro
    pick: 1
    questions:
      - id: tiny-about
        text: Tell me a bit about yourself, please.
        type: intro
        difficulty: 1
  - id: tech
    title: Technical
    kind: technical
    pick: 1
    questions:
      - id: tiny-index
        text: When would you add an index to a database table?
        type: technical
        difficulty: 2
        key_points:
          - text: Speeds up frequent lookups and joins on that column
            probe: Which queries would benefit from it?
          - text: Costs extra writes and storage
            probe: Is there any downside to adding one?
"""


def _line_of(text: str, needle: str, occurrence: int = 1) -> int:
    count = 0
    for i, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            count += 1
            if count == occurrence:
                return i
    raise AssertionError(f"{needle!r} not in text")


def _malformed_files(tmp: Path) -> dict[str, tuple[Path, int | None]]:
    """name -> (file, expected line or None when any line is acceptable)."""
    files: dict[str, tuple[Path, int | None]] = {}

    def put(name: str, text: str | bytes, line: int | None) -> None:
        p = tmp / f"{name}.yaml"
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(text, encoding="utf-8")
        files[name] = (p, line)

    bad_indent = GOOD_FLOW.replace("role: Backend engineer", "  role: Backend engineer")
    put("bad-indent", bad_indent, None)

    unknown = GOOD_FLOW.replace(
        "        difficulty: 2\n", "        difficulty: 2\n        levle: 3\n"
    )
    put("unknown-key", unknown, _line_of(unknown, "levle: 3"))

    missing = GOOD_FLOW.replace("role: Backend engineer\n", "")
    put("missing-field", missing, None)

    wrong_type = GOOD_FLOW.replace("        difficulty: 2\n", "        difficulty: hard\n")
    put("wrong-type", wrong_type, _line_of(wrong_type, "difficulty: hard"))

    dup = GOOD_FLOW.replace("id: tiny-index", "id: tiny-about")
    put("duplicate-id", dup, _line_of(dup, "id: tiny-about", occurrence=2))

    empty_pool = GOOD_FLOW.split("  - id: tech")[0] + (
        "  - id: tech\n    title: Technical\n    kind: technical\n    pick: 1\n    questions: []\n"
    )
    put("empty-pool", empty_pool, _line_of(empty_pool, "questions: []"))

    pick = GOOD_FLOW.replace(
        "    pick: 1\n    questions:\n      - id: tiny-index",
        "    pick: 4\n    questions:\n      - id: tiny-index",
    )
    put("pick-too-large", pick, None)

    put("empty", "", None)
    put("garbage", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\xfd\x00\x80\x81", None)
    return files


def _check_issue_lines(stderr: str) -> list[re.Match[str]]:
    assert "Traceback" not in stderr
    matches = []
    for ln in stderr.splitlines():
        if not ln.strip() or SUMMARY_LINE.match(ln.strip()):
            continue
        m = ISSUE_LINE.match(ln)
        assert m, f"error line not in '<path>:<line>: <message>' form: {ln!r}"
        matches.append(m)
    assert matches, "no error lines printed"
    return matches


def test_flows_validate_rejects_each_malformed_file_with_file_line_errors(
    runner: CliRunner, tmp_path: Path
) -> None:
    files = _malformed_files(tmp_path)
    for name, (path, want_line) in files.items():
        result = invoke(runner, ["flows", "validate", str(path)])
        assert result.exit_code == 1, f"{name}: {result.stdout}"
        assert "OK" not in result.stdout
        issues = _check_issue_lines(result.stderr)
        for m in issues:
            assert m["path"] == str(path), f"{name}: {m.group(0)}"
            assert m["line"] is not None, f"{name}: no line number in {m.group(0)!r}"
            assert int(m["line"]) >= 1
        if want_line is not None:
            lines = [int(m["line"]) for m in issues]
            assert want_line in lines, f"{name}: expected line {want_line}, got {result.stderr}"
        assert "1 of 1 file(s) invalid" in result.stderr


def test_flows_validate_messages_name_the_problem(runner: CliRunner, tmp_path: Path) -> None:
    files = _malformed_files(tmp_path)

    def stderr_of(name: str) -> str:
        return invoke(runner, ["flows", "validate", str(files[name][0])]).stderr

    assert "unknown key 'levle'" in stderr_of("unknown-key")
    assert "missing required field 'role'" in stderr_of("missing-field")
    assert "difficulty" in stderr_of("wrong-type")
    assert "duplicate question id 'tiny-about'" in stderr_of("duplicate-id")
    assert "pick is 4" in stderr_of("pick-too-large")
    assert "empty" in stderr_of("empty")
    assert "invalid YAML" in stderr_of("bad-indent")
    assert "UTF-8" in stderr_of("garbage")
    empty_pool = stderr_of("empty-pool")
    assert "questions" in empty_pool


def test_flows_validate_unknown_key_wrong_type_duplicate_exact_lines(
    runner: CliRunner, tmp_path: Path
) -> None:
    files = _malformed_files(tmp_path)
    for name in ("unknown-key", "wrong-type", "duplicate-id"):
        path, line = files[name]
        result = invoke(runner, ["flows", "validate", str(path)])
        first = result.stderr.splitlines()[0]
        assert first.startswith(f"{path}:{line}: "), f"{name}: {first!r} (want line {line})"


def test_flows_validate_directory_and_missing_file(runner: CliRunner, tmp_path: Path) -> None:
    folder = tmp_path / "flows.yaml"
    folder.mkdir()
    missing = tmp_path / "nope.yaml"
    result = invoke(runner, ["flows", "validate", str(folder), str(missing)])
    assert result.exit_code == 1
    issues = _check_issue_lines(result.stderr)
    assert [m["path"] for m in issues] == [str(folder), str(missing)]
    assert "directory" in issues[0]["msg"]
    assert "no such file" in issues[1]["msg"]
    assert "2 of 2 file(s) invalid" in result.stderr


def test_flows_validate_mixed_good_and_bad(runner: CliRunner, tmp_path: Path) -> None:
    files = _malformed_files(tmp_path)
    good = tmp_path / "good.yaml"
    good.write_text(GOOD_FLOW, encoding="utf-8")
    paths = [str(good)] + [str(p) for p, _ in files.values()]
    result = invoke(runner, ["flows", "validate", *paths])
    assert result.exit_code == 1
    assert f"{good}: OK (tiny, 2 questions)" in result.stdout
    issues = _check_issue_lines(result.stderr)
    assert {m["path"] for m in issues} == {str(p) for p, _ in files.values()}
    assert f"{len(files)} of {len(paths)} file(s) invalid" in result.stderr


def test_flows_validate_prints_paths_verbatim(runner: CliRunner, tmp_path: Path) -> None:
    """User text (paths, keys) must not be parsed as Rich markup."""
    draft = tmp_path / "[draft] flow.yaml"
    odd = tmp_path / "old[/x].yaml"
    result = invoke(runner, ["flows", "validate", str(draft), str(odd)])
    assert result.exit_code == 1
    assert f"{draft}: no such file" in result.stderr
    assert f"{odd}: no such file" in result.stderr


# ------------------------------------------------------------------------------------ simulate


def test_simulate_writes_json_and_html(runner: CliRunner, tmp_path: Path) -> None:
    result, out = simulate(runner, tmp_path, STRONG_ANSWERS, "strong")
    assert result.exit_code == 0, result.stderr
    assert (out / "report.json").is_file()
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html")
    assert "Mini backend flow" in html
    report = load_report(out)
    check_report_shape(report)
    assert report["flow_id"] == "mini"
    assert f"Overall {report['overall_score']:.0f}/100" in result.stdout
    assert "Interviewer:" in result.stdout and "Candidate:" in result.stdout
    answers = [q["answer"] for q in report["questions"]]
    assert answers[0] == STRONG_ANSWERS[0].strip()


def test_simulate_is_deterministic(runner: CliRunner, tmp_path: Path) -> None:
    r1, out1 = simulate(runner, tmp_path, WEAK_ANSWERS, "run1")
    r2, out2 = simulate(runner, tmp_path, WEAK_ANSWERS, "run2")
    assert r1.exit_code == r2.exit_code == 0
    assert (out1 / "report.json").read_bytes() == (out2 / "report.json").read_bytes()
    assert (out1 / "report.html").read_bytes() == (out2 / "report.html").read_bytes()
    assert r1.stdout.replace(str(out1), "OUT") == r2.stdout.replace(str(out2), "OUT")


@pytest.mark.slow
def test_simulate_is_deterministic_across_processes(runner: CliRunner, tmp_path: Path) -> None:
    """Another process with a different hash seed writes the same bytes (no set-order leaks)."""
    _, out1 = simulate(runner, tmp_path, STRONG_ANSWERS, "inproc")
    answers_file = tmp_path / "inproc-answers.yaml"
    out2 = tmp_path / "subproc"
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = "4242"
    proc = subprocess.run(
        [
            str(INTERVIEWER),
            "simulate",
            "--flow",
            str(MINI_FLOW),
            "--answers",
            str(answers_file),
            "--out",
            str(out2),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert (out1 / "report.json").read_bytes() == (out2 / "report.json").read_bytes()


def test_strong_answers_score_higher_than_weak(runner: CliRunner, tmp_path: Path) -> None:
    rs, out_s = simulate(runner, tmp_path, STRONG_ANSWERS, "strong")
    rw, out_w = simulate(runner, tmp_path, WEAK_ANSWERS, "weak")
    assert rs.exit_code == rw.exit_code == 0
    strong, weak = load_report(out_s), load_report(out_w)
    check_report_shape(strong)
    check_report_shape(weak)
    assert strong["overall_score"] > weak["overall_score"] + 20, (
        strong["overall_score"],
        weak["overall_score"],
    )
    strong_main = {q["question_id"]: q["score"] for q in strong["questions"] if q["kind"] == "main"}
    weak_main = {q["question_id"]: q["score"] for q in weak["questions"] if q["kind"] == "main"}
    for qid in strong_main.keys() & weak_main.keys():
        assert strong_main[qid] > weak_main[qid], qid
    # Weak, short answers draw follow-ups that point back at their main question.
    assert any(q["kind"] == "follow_up" for q in weak["questions"])
    # Every strong answer appears verbatim in the report.
    answers = [q["answer"] for q in strong["questions"]]
    for a in STRONG_ANSWERS:
        assert a in answers


@pytest.mark.parametrize("content", [[], {"answers": []}, None], ids=["list", "mapping", "null"])
def test_simulate_with_no_answers_wraps_up_immediately(
    runner: CliRunner, tmp_path: Path, content: Any
) -> None:
    result, out = simulate(runner, tmp_path, content, "empty")
    assert result.exit_code == 0, result.stderr
    report = load_report(out)
    check_report_shape(report)
    assert report["questions"] == []
    assert report["closing"]
    # One question asked, then straight to the closing line: no candidate turns.
    assert "Candidate:" not in result.stdout
    assert result.stdout.count("Interviewer:") == 2


def test_simulate_answers_mapping_with_answers_key(runner: CliRunner, tmp_path: Path) -> None:
    result, out = simulate(runner, tmp_path, {"answers": STRONG_ANSWERS[:1]}, "mapping")
    assert result.exit_code == 0, result.stderr
    report = load_report(out)
    assert report["questions"][0]["answer"] == STRONG_ANSWERS[0]


@pytest.mark.parametrize(
    ("content", "name"),
    [
        ("{intro: hello, tech: world}\n", "mapping"),
        ("42\n", "number"),
        ("just a sentence\n", "str"),
    ],
)
def test_simulate_rejects_answers_that_are_not_a_list(
    runner: CliRunner, tmp_path: Path, content: str, name: str
) -> None:
    answers = tmp_path / f"{name}.yaml"
    answers.write_text(content, encoding="utf-8")
    out = tmp_path / "out"
    result = invoke(
        runner,
        ["simulate", "--flow", str(MINI_FLOW), "--answers", str(answers), "--out", str(out)],
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert "error:" in result.stderr
    assert str(answers) in result.stderr
    assert "list" in result.stderr
    assert not (out / "report.json").exists()


def test_simulate_rejects_nested_answer_and_bad_yaml(runner: CliRunner, tmp_path: Path) -> None:
    nested = tmp_path / "nested.yaml"
    nested.write_text("- fine\n- {not: text}\n", encoding="utf-8")
    result = invoke(
        runner,
        ["simulate", "--flow", str(MINI_FLOW), "--answers", str(nested), "--out", str(tmp_path)],
    )
    assert result.exit_code == 1
    assert "answer 2 is not text" in result.stderr

    bad = tmp_path / "bad.yaml"
    bad.write_text("- one\n-  two: [\n", encoding="utf-8")
    result = invoke(
        runner,
        ["simulate", "--flow", str(MINI_FLOW), "--answers", str(bad), "--out", str(tmp_path)],
    )
    assert result.exit_code == 1
    assert "invalid YAML" in result.stderr

    result = invoke(
        runner,
        [
            "simulate",
            "--flow",
            str(MINI_FLOW),
            "--answers",
            str(tmp_path / "missing.yaml"),
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 1
    assert "answers file not found" in result.stderr


def test_simulate_unknown_flow_lists_known_flows(runner: CliRunner, tmp_path: Path) -> None:
    from agent.coach.loader import shipped_flows

    answers = write_answers(tmp_path / "a.yaml", ["hello"])
    result = invoke(
        runner,
        [
            "simulate",
            "--flow",
            "nonexistent-flow",
            "--answers",
            str(answers),
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert "nonexistent-flow" in result.stderr
    for fid in shipped_flows():
        assert fid in result.stderr
    assert not (tmp_path / "out").exists()


def test_simulate_shipped_flow_by_id(runner: CliRunner, tmp_path: Path) -> None:
    result, out = simulate(runner, tmp_path, STRONG_ANSWERS[:2], "backend", flow="backend")
    assert result.exit_code == 0, result.stderr
    report = load_report(out)
    check_report_shape(report)
    assert report["flow_id"] == "backend"


RESUME = """\
Jordan Lee
Backend engineer

Experience
Senior engineer, Acme Payments (2019-2024)
- Built the settlement service in Python and PostgreSQL

Projects
- Realtime fraud detection pipeline - Kafka, Python, scikit-learn
- Open-source rate limiter library

Education
BSc Computer Science
"""

JD = """\
We are hiring a backend engineer to build reliable APIs. You will design caching layers with
Redis, tune SQL queries and work on distributed systems at scale.
"""


def test_simulate_uses_resume_project_and_job_description(
    runner: CliRunner, tmp_path: Path
) -> None:
    resume = tmp_path / "resume.txt"
    resume.write_text(RESUME, encoding="utf-8")
    jd = tmp_path / "jd.txt"
    jd.write_text(JD, encoding="utf-8")
    result, out = simulate(
        runner,
        tmp_path,
        STRONG_ANSWERS,
        "resume",
        "--resume-file",
        str(resume),
        "--jd-file",
        str(jd),
    )
    assert result.exit_code == 0, result.stderr
    report = load_report(out)
    check_report_shape(report)
    asked = [q["question"] for q in report["questions"]]
    project = "Realtime fraud detection pipeline"
    assert f"I saw {project} on your résumé" in result.stdout, result.stdout
    assert any(project in q for q in asked), asked
    assert any("Résumé project to discuss" in n for n in report["notes"]), report["notes"]


def test_simulate_resume_file_errors_are_clear(runner: CliRunner, tmp_path: Path) -> None:
    answers = write_answers(tmp_path / "a.yaml", ["hi"])
    binary = tmp_path / "resume.pdf"
    binary.write_bytes(b"%PDF-1.7\n\x00\x01\x02binary")
    for resume, needle in ((tmp_path / "nope.txt", "not found"), (binary, "not plain text")):
        result = invoke(
            runner,
            [
                "simulate",
                "--flow",
                str(MINI_FLOW),
                "--answers",
                str(answers),
                "--out",
                str(tmp_path / "out"),
                "--resume-file",
                str(resume),
            ],
        )
        assert result.exit_code == 1
        assert needle in result.stderr


def test_simulate_transcript_prints_answers_verbatim(runner: CliRunner, tmp_path: Path) -> None:
    """Answer text is user input: brackets must not be eaten or crash the transcript."""
    answers = [
        "In Python I annotate it as dict[str, int] and list[int], and close tags like [/quote] "
        "are just text to me."
    ]
    result, out = simulate(runner, tmp_path, answers, "brackets")
    assert result.exit_code == 0, result.stderr
    assert f"Candidate: {answers[0]}" in result.stdout
    assert load_report(out)["questions"][0]["answer"] == answers[0]


def test_simulate_bad_seniority_is_a_clear_error(runner: CliRunner, tmp_path: Path) -> None:
    answers = write_answers(tmp_path / "a.yaml", ["hi"])
    result = invoke(
        runner,
        [
            "simulate",
            "--flow",
            str(MINI_FLOW),
            "--answers",
            str(answers),
            "--out",
            str(tmp_path / "out"),
            "--seniority",
            "wizard",
        ],
    )
    assert result.exit_code == 1
    assert "seniority" in result.stderr


# ------------------------------------------------------------------- practice, history, report


def test_practice_voice_is_refused_clearly(runner: CliRunner) -> None:
    result = invoke(runner, ["practice", "--voice"])
    assert result.exit_code == 1
    assert "error:" in result.stderr
    assert "--text" in result.stderr
    assert "Traceback" not in result.stderr


def test_practice_text_reads_answers_from_stdin(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "practice-out"
    result = runner.invoke(
        app,
        ["practice", "--text", "--flow", str(MINI_FLOW), "--out", str(out)],
        input=STRONG_ANSWERS[0] + "\n/end\n",
    )
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert re.search(r"Practice interview [0-9a-f]{12}", result.stdout)
    assert "Report written to" in result.stdout
    report = load_report(out)
    check_report_shape(report)
    assert report["questions"][0]["answer"] == STRONG_ANSWERS[0]


def test_history_with_empty_db(runner: CliRunner) -> None:
    result = invoke(runner, ["history"])
    assert result.exit_code == 0, result.stderr
    assert "No interviews yet" in result.stdout


def test_report_unknown_id_exits_1(runner: CliRunner) -> None:
    result = invoke(runner, ["report", "does-not-exist"])
    assert result.exit_code == 1
    assert "does-not-exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_saved_simulation_shows_in_history_and_report(runner: CliRunner, tmp_path: Path) -> None:
    result, out = simulate(runner, tmp_path, STRONG_ANSWERS, "saved", "--save")
    assert result.exit_code == 0, result.stderr
    sid = load_report(out)["session_id"]

    # wide enough that the table does not fold the session id
    hist = runner.invoke(app, ["history"], env={"COLUMNS": "200"})
    assert hist.exit_code == 0, hist.stderr
    assert sid in hist.stdout
    assert "finished" in hist.stdout

    again = tmp_path / "again"
    rep = invoke(runner, ["report", sid, "--out", str(again)])
    assert rep.exit_code == 0, rep.stderr
    assert load_report(again) == load_report(out)
    assert "Report written to" in rep.stdout


def test_eval_personas_on_a_coach_flow_file(runner: CliRunner, tmp_path: Path) -> None:
    """A coach dry-runs a flow file of their own against a few personas."""
    flow = MINI_FLOW
    result = invoke(
        runner,
        [
            "eval",
            "personas",
            "--flow",
            str(flow),
            "--persona",
            "strong",
            "--persona",
            "weak",
            "--persona",
            "empty",
            "--persona",
            "injection",
        ],
    )
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("RESULT ")
    data = json.loads(last.removeprefix("RESULT "))
    assert data["cases"] == 4 and data["violations"] == 0
    assert data["invariants"]["score_order"] == {"pass": 1, "fail": 0}
    assert data["invariants"]["injection_inert"] == {"pass": 1, "fail": 0}
    assert set(data["scores"]["mini"]) == {"strong", "weak", "empty", "injection"}


def test_eval_personas_rejects_unknown_personas_and_bad_flows(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = invoke(runner, ["eval", "personas", "--flow", "backend", "--persona", "nobody"])
    assert result.exit_code != 0 and "unknown persona" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad\ntitle: Bad\nsections: nope\n")
    result = invoke(runner, ["eval", "personas", "--flow", str(bad)])
    assert result.exit_code != 0 and "bad.yaml" in result.output
