"""Résumé and job-description uploads: TXT, PDF and DOCX turned into plain text, safely.

Owns reading an uploaded file's bytes into text for the planner, with limits and clear errors:
files over `MAX_UPLOAD_BYTES`, unknown or mismatched formats (judged by content, not by the
name), encrypted or broken PDFs, PDFs too complex to read in reasonable time, DOCX files that are
not Word documents (or zip bombs), and files with no readable text all raise `DocumentError` with
a message a candidate can act on; no other exception leaves `document_text`, whatever the bytes.
Nothing is written to disk or logged; the text is returned and the bytes are dropped.
"""

from __future__ import annotations

import io
import logging
import lzma
import re
import struct
import time
import zipfile
import zlib
from typing import Any
from xml.etree import ElementTree

from agent.errors import InterviewerError

MAX_UPLOAD_BYTES = 2_000_000
"""Largest file accepted (2 MB: a long résumé as PDF is well under 1 MB)."""
MAX_TEXT_CHARS = 20_000
"""Longest text kept from a document (the planner reads skills and projects, not novels)."""
MAX_PDF_PAGES = 30
MAX_PDF_OPERATIONS = 50_000
"""Drawing operations read from a PDF at most (a dense two-page résumé has a few thousand): a
small crafted file can otherwise keep the text extractor busy for minutes."""
MAX_PDF_SECONDS = 10.0
"""Longest a PDF is read for (a résumé takes well under a second); the safety net for files
whose cost does not show in the operation count."""
MAX_DOCX_XML_BYTES = 5_000_000
"""Largest uncompressed document.xml accepted from a DOCX (guards against zip bombs; a résumé's
is a few hundred KB, and 20 MB of XML took seconds and hundreds of MB to parse)."""

_PDF_LIMITS: dict[str, Any] = {
    "zlib_maximum_output_length": 10_000_000,
    "maximum_declared_stream_length": 10_000_000,
    "stream_decoding_work_maximum_length": 50_000_000,
    "stream_parsing_work_maximum_count": 100_000,
    "page_tree_maximum_entries": 10_000,
    "page_tree_maximum_depth": 32,
    "xform_maximum_invocations_per_extraction": 100,
    "jbig2dec_binary": None,
}
"""pypdf limits for résumés, far below its defaults (which suit archives of big reports)."""

_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    NotImplementedError,  # compression methods or zip versions the standard library lacks
    ValueError,  # negative seeks from corrupt offsets
    OSError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    struct.error,
)

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


class DocumentError(InterviewerError):
    """An uploaded document that cannot be used, with the reason in plain words."""


def _kind(data: bytes, filename: str) -> str:
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        return "docx"
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise DocumentError(
            f"{filename}: this is an old Word (.doc) file; save it as .docx or PDF and try again"
        )
    return "txt"


def _clean(text: str) -> str:
    text = text.replace("\x00", " ")
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r"\n\s*\n+", "\n\n", text)
    return text.strip()[:MAX_TEXT_CHARS]


def _txt(data: bytes, filename: str) -> str:
    encoding = "utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    printable = sum(ch.isprintable() or ch in "\n\t\r" for ch in text)
    if not text or printable / len(text) < 0.95:
        raise DocumentError(
            f"{filename}: this does not look like a text file; upload TXT, PDF or DOCX"
        )
    return text


class _TooComplex(Exception):
    """The PDF needs more than `MAX_PDF_OPERATIONS` operations or `MAX_PDF_SECONDS`."""


class _ReadBudget:
    """Called by pypdf before every drawing operation; stops it when the budget is spent."""

    def __init__(self, operations: int, seconds: float) -> None:
        self.left = operations
        self.deadline = time.monotonic() + seconds

    def __call__(self, *_: Any) -> None:
        self.left -= 1
        if self.left < 0 or time.monotonic() > self.deadline:
            raise _TooComplex


def _pdf(data: bytes, filename: str) -> str:
    from pypdf import PdfReader, apply_configuration
    from pypdf.errors import LimitReachedError

    # pypdf's warnings about malformed files quote the file's bytes: never log the résumé.
    logging.getLogger("pypdf").setLevel(logging.CRITICAL)
    budget = _ReadBudget(MAX_PDF_OPERATIONS, MAX_PDF_SECONDS)
    texts: list[str] = []
    try:
        with apply_configuration(**_PDF_LIMITS):
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                raise DocumentError(
                    f"{filename}: the PDF is password-protected; upload an open copy"
                )
            for page in reader.pages[:MAX_PDF_PAGES]:
                texts.append(page.extract_text(visitor_operand_before=budget) or "")
                if sum(map(len, texts)) >= MAX_TEXT_CHARS:
                    break
    except DocumentError:
        raise
    except (_TooComplex, LimitReachedError):
        if not "".join(texts).split():
            raise DocumentError(
                f"{filename}: the PDF is too complex to read; paste its text instead"
            ) from None
    except Exception as e:
        # pypdf raises many kinds on broken files (LimitReachedError, IndexError, AttributeError,
        # RecursionError…); every one of them means the file cannot be read.
        raise DocumentError(f"{filename}: the PDF could not be read ({type(e).__name__})") from None
    return "\n\n".join(texts)


def _docx(data: bytes, filename: str) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            try:
                info = z.getinfo("word/document.xml")
            except KeyError:
                raise DocumentError(
                    f"{filename}: this zip file is not a Word document; upload TXT, PDF or DOCX"
                ) from None
            if info.file_size > MAX_DOCX_XML_BYTES:
                raise DocumentError(f"{filename}: the document is too large to read")
            if info.flag_bits & 0x1:
                raise DocumentError(
                    f"{filename}: the document is password-protected; upload an open copy"
                )
            xml = z.read(info)
    except _ZIP_ERRORS:
        raise DocumentError(f"{filename}: the DOCX file is damaged") from None
    try:
        root = ElementTree.fromstring(xml)
    except (ElementTree.ParseError, LookupError, ValueError):  # LookupError: unknown encoding
        raise DocumentError(f"{filename}: the DOCX file is damaged") from None
    paragraphs = []
    for p in root.iter(f"{_W}p"):
        parts = []
        for node in p.iter():
            if node.tag == f"{_W}t" and node.text:
                parts.append(node.text)
            elif node.tag == f"{_W}tab":
                parts.append("\t")
            elif node.tag in (f"{_W}br", f"{_W}cr"):
                parts.append("\n")
        paragraphs.append("".join(parts))
    return "\n".join(paragraphs)


def document_text(data: bytes, filename: str = "upload") -> str:
    """Plain text of an uploaded TXT, PDF or DOCX file.

    Raises:
        DocumentError: too large, empty, unsupported, damaged, protected or without text.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise DocumentError(
            f"{filename}: the file is {len(data) / 1e6:.1f} MB; the limit is "
            f"{MAX_UPLOAD_BYTES / 1e6:.0f} MB"
        )
    if not data.strip():
        raise DocumentError(f"{filename}: the file is empty")
    kind = _kind(data, filename)
    raw = {"pdf": _pdf, "docx": _docx, "txt": _txt}[kind](data, filename)
    text = _clean(raw)
    if len(text.split()) < 3:
        hint = " (a scanned PDF has no text layer; paste the text instead)" if kind == "pdf" else ""
        raise DocumentError(f"{filename}: no readable text found{hint}")
    return text
