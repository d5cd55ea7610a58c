"""The product's error hierarchy; SDK and library errors are translated into these at boundaries."""

from __future__ import annotations


class InterviewerError(Exception):
    """Base class for errors the product reports to its users."""


class ConfigError(InterviewerError):
    """Settings are missing or inconsistent."""


class FlowError(InterviewerError):
    """A coach flow file is invalid or cannot be found.

    Attributes:
        issues: One ``file:line: message`` string per problem, when known.
    """

    def __init__(self, message: str, *, issues: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.issues = issues or (message,)


class ModelLoadError(InterviewerError):
    """A model file is missing, corrupt or cannot be loaded."""


class ProvisionError(InterviewerError):
    """Model provisioning failed (registry unreachable, hash mismatch, bad archive)."""


class ProviderError(InterviewerError):
    """A provider (LLM, STT, TTS) failed.

    Attributes:
        retryable: Whether trying again may help.
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class SessionNotFoundError(InterviewerError):
    """No interview session with that id."""


class StorageUnavailableError(InterviewerError):
    """The database (or the checkpoint store) stayed unreachable or locked past the retry window.

    Transient: the same request can be sent again once storage is back. Nothing finalized is
    lost; ``answer_saved`` says whether the answer being submitted had already reached the
    interview's checkpoint (then the interview continues at the next question by itself).

    Attributes:
        answer_saved: Whether the submitted answer was saved before storage went away.
    """

    def __init__(self, message: str, *, answer_saved: bool = False) -> None:
        super().__init__(message)
        self.answer_saved = answer_saved
