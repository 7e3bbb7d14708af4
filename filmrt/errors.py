"""Errors the user can act on.

Every failure a user can cause (a missing file, weights that are not installed, a shape the
model cannot take) is raised as :class:`FilmrtError`. The CLI prints its message as one line,
``filmrt: error: <message>``, and exits with its ``exit_code`` (2 unless said otherwise); no
traceback is shown. Programming errors stay ordinary exceptions.

Exit codes: 2 an error (no output written), 3 output written from a damaged input,
4 :data:`EXIT_VERIFY_FAILED` (the output read back differs from the plan; OUT was not written),
130 interrupted. A message may have more lines after the first (verification: one per
difference); the CLI prints each on its own line.
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


#: the exit code of a failed verification (:mod:`filmrt.pipeline.io.verify`): not 0, 1, 2 or 3
EXIT_VERIFY_FAILED = 4


class VerificationFailed(FilmrtError):
    """An output read back does not match the plan: the first line of the message is a summary,
    each further line one difference. Exit code 4."""

    def __init__(self, message: str):
        super().__init__(message, exit_code=EXIT_VERIFY_FAILED)

    @property
    def differences(self) -> list[str]:
        return str(self).splitlines()[1:]
