"""Résumé / job-description uploads: real TXT, PDF and DOCX files, and every kind of bad file."""

from __future__ import annotations

import io
import zipfile

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.documents import MAX_UPLOAD_BYTES, DocumentError, document_text

pytestmark = pytest.mark.unit

RESUME = "Jane Doe. Backend engineer. Five years of Python and PostgreSQL at a payments company."


def make_pdf(lines: list[str]) -> bytes:
    """A small, valid PDF with a real text layer (Helvetica), built byte by byte."""
    content = (
        "BT /F1 12 Tf 72 720 Td 14 TL "
        + " ".join(
            "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '"
            for line in lines
        )
        + " ET"
    )
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n{body}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def make_docx(paragraphs: list[str]) -> bytes:
    ns = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    body = "".join(f"<w:p><w:r><w:t>{p}</w:t></w:r></w:p>" for p in paragraphs)
    xml = f'<?xml version="1.0"?><w:document xmlns:w="{ns}"><w:body>{body}</w:body></w:document>'
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", xml)
    return out.getvalue()


def test_reads_text_pdf_and_docx() -> None:
    assert document_text(RESUME.encode(), "cv.txt") == RESUME
    assert "Jane" in document_text(("\ufeff" + RESUME).encode("utf-8"), "bom.txt")
    assert "Backend" in document_text(RESUME.encode("utf-16"), "utf16.txt")
    pdf = document_text(make_pdf(["Jane Doe", "Backend engineer (Python, PostgreSQL)"]), "cv.pdf")
    assert "Jane Doe" in pdf and "Backend engineer (Python, PostgreSQL)" in pdf
    docx = document_text(make_docx(["Jane Doe", "Led the payments team of five"]), "cv.docx")
    assert docx.splitlines() == ["Jane Doe", "Led the payments team of five"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"   \n ", "empty"),
        (b"x" * (MAX_UPLOAD_BYTES + 1), "limit is 2 MB"),
        (bytes(range(256)) * 20, "does not look like a text file"),
        (b"\xd0\xcf\x11\xe0" + b"\0" * 600, "old Word"),
        (b"%PDF-1.4\n garbage garbage", "could not be read"),
        (b"PK\x03\x04 not really a zip", "damaged"),
        (make_pdf([]), "no readable text"),
        (make_docx([]), "no readable text"),
        (b"hi", "no readable text"),
    ],
)
def test_bad_files_get_clear_errors(data: bytes, message: str) -> None:
    with pytest.raises(DocumentError, match=message):
        document_text(data, "file.bin")


def test_a_zip_that_is_not_a_word_document() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("hello.txt", "hello there friend")
    with pytest.raises(DocumentError, match="not a Word document"):
        document_text(out.getvalue(), "x.docx")


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=4000))
def test_random_bytes_never_crash(data: bytes) -> None:
    try:
        text = document_text(data, "fuzz")
    except DocumentError:
        return
    assert isinstance(text, str) and len(text.split()) >= 3


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=1, max_size=3000))
def test_random_pdf_and_zip_bodies_never_crash(tail: bytes) -> None:
    for head in (b"%PDF-1.7\n", b"PK\x03\x04"):
        try:
            document_text(head + tail, "fuzz")
        except DocumentError:
            pass


def test_upload_endpoint(client: TestClient) -> None:
    r = client.post("/api/documents?name=cv.pdf", content=make_pdf(["Jane Doe", RESUME]))
    assert r.status_code == 200 and "Jane Doe" in r.json()["text"]
    assert r.json()["name"] == "cv.pdf" and r.json()["words"] > 5
    r = client.post("/api/documents?name=../../etc/passwd", content=b"\x00\x01\x02" * 100)
    assert r.status_code == 422 and r.json()["detail"].startswith("passwd:")
    r = client.post("/api/documents?name=big.pdf", content=b"a " * (MAX_UPLOAD_BYTES // 2 + 10))
    assert r.status_code == 413 and "limit" in r.json()["detail"]
