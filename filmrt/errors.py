"""Errors the user can act on.

Every failure a user can cause (a missing file, weights that are not installed, a shape the
model cannot take) is raised as :class:`FilmrtError`. The CLI prints its message as one line,
``filmrt: error: <message>``, and exits with its ``exit_code`` (2 unless said otherwise); no
traceback is shown. Programming errors stay ordinary exceptions.
"""

from __future__ import annotations


class FilmrtError(Exception):
    """A user-facing error: one line of explanation and an exit code."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code


class WeightsNotFound(FilmrtError):
    """The weights a model needs are not installed; the message says how to get them."""


class NotAVideo(FilmrtError):
    """The input is plainly not a video (not a media file, no video stream, a directory): trying
    again cannot help, so ``filmrt batch`` fails such a file at once instead of retrying it."""
