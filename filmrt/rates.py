"""Frame rates: the one parser, exact rationals throughout.

A rate is a :class:`fractions.Fraction` of frames per second. People write rates three ways, and
every command accepts all of them:

- an integer or exact decimal: ``50``, ``25``, ``12.5`` (= 25/2);
- an NTSC shorthand, meant as the 1001-based rational: ``23.976`` / ``23.98`` (= 24000/1001),
  ``29.97``, ``47.952``, ``59.94`` (= 60000/1001), ``119.88``;
- a ratio: ``60000/1001``;
- a factor of the input rate: ``x2``, ``2x``, ``x2.5``, ``X4``.

A factor needs the input rate, which is known only after probing; :class:`RateSpec` keeps what
the user wrote, is validated up front (before any decoding), and :meth:`RateSpec.resolve` turns it
into a rate once the input rate is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from filmrt.errors import FilmrtError

#: rates people write as decimals but mean as NTSC rationals
NTSC = {
    "23.976": Fraction(24000, 1001),
    "23.98": Fraction(24000, 1001),
    "29.97": Fraction(30000, 1001),
    "47.952": Fraction(48000, 1001),
    "59.94": Fraction(60000, 1001),
    "119.88": Fraction(120000, 1001),
}
#: the highest rate accepted as a video rate (frames per second)
MAX_RATE = 1000
#: the lowest rate accepted (one frame a minute)
MIN_RATE = Fraction(1, 60)

_HINT = "use e.g. 60, 59.94, 60000/1001, x2 or 2x"
#: a measured rate this close (relative) to a whole or NTSC rate is that rate: Matroska's
#: millisecond clock reads 59.94 fps as 19001/317 (2e-6 off); 60 and 59.94 are 1e-3 apart
EXACT_SLACK = Fraction(1, 10000)


def exact_rate(rate: Fraction) -> Fraction:
    """``rate`` as the whole or NTSC (x/1001) rate it measures, within :data:`EXACT_SLACK`; else as it is."""
    rate = Fraction(rate)
    for near in (Fraction(round(rate)), Fraction(round(rate * Fraction(1001, 1000)) * 1000, 1001)):
        if near > 0 and abs(rate / near - 1) <= EXACT_SLACK:
            return near
    return rate


@dataclass(frozen=True)
class RateSpec:
    """What the user asked for: an absolute ``rate`` or a ``factor`` of the input rate."""

    text: str
    rate: Fraction | None = None
    factor: Fraction | None = None

    @property
    def is_factor(self) -> bool:
        return self.factor is not None

    def resolve(self, fps_in: Fraction | None) -> Fraction:
        """The output rate; a factor is applied to ``fps_in`` (FilmrtError when it is unknown)."""
        if self.rate is not None:
            return self.rate
        if fps_in is None or fps_in <= 0:
            raise FilmrtError(f"--fps {self.text}: a factor needs the input rate, and the input has none")
        return _check(Fraction(fps_in) * self.factor, self.text)

    def __str__(self) -> str:
        return self.text


def _check(rate: Fraction, text: str) -> Fraction:
    if rate <= 0:
        raise FilmrtError(f"--fps {text}: the rate must be positive")
    if rate > MAX_RATE or rate < MIN_RATE:
        raise FilmrtError(f"--fps {text}: {float(rate):g} fps is not a video rate ({_HINT})")
    return rate


def parse_rate_spec(text: str | int | float | Fraction | RateSpec) -> RateSpec:
    """Parse and validate a rate or a factor; see the module docstring for the spellings."""
    if isinstance(text, RateSpec):
        return text
    if isinstance(text, Fraction | int):
        return RateSpec(str(text), rate=_check(Fraction(text), str(text)))
    s = str(text).strip().lower()
    try:
        if s.startswith("x") or s.endswith("x"):
            body = s[1:] if s.startswith("x") else s[:-1]
            if not body or "x" in body:
                raise ValueError(s)
            factor = Fraction(body)
            if not factor > 0 or factor > MAX_RATE:
                raise FilmrtError(f"--fps {text}: the factor must be positive")
            return RateSpec(str(text).strip(), factor=factor)
        rate = NTSC.get(s)
        if rate is None:
            rate = Fraction(s)
    except (ValueError, ZeroDivisionError, OverflowError):
        raise FilmrtError(f"--fps {text!r} is not a rate: {_HINT}") from None
    return RateSpec(str(text).strip(), rate=_check(rate, str(text).strip()))


def canonical_spelling(text):
    """One spelling per factor (``2x``, ``X2``, ``x2.0`` -> ``x2``; ``5/2x`` -> ``x5/2``), so that the
    spelling alone never counts as another setting (batch's resume reads it). Absolute rates keep
    what the user wrote (manifests written before stay valid); text that is not a rate is returned
    as it is (the options object refuses it elsewhere)."""
    try:
        spec = parse_rate_spec(text)
    except FilmrtError:
        return text
    return f"x{spec.factor}" if spec.is_factor else text


def parse_rate(text: str | int | float | Fraction, fps_in: Fraction | None = None) -> Fraction:
    """A rate as an exact fraction; a factor (``x2``/``2x``) is applied to ``fps_in``."""
    return parse_rate_spec(text).resolve(fps_in)


def format_rate(rate: Fraction) -> str:
    """``Fraction(60000, 1001)`` -> ``'60000/1001 (59.94)'``; ``Fraction(50)`` -> ``'50'``."""
    rate = Fraction(rate)
    if rate.denominator == 1:
        return str(rate.numerator)
    return f"{rate.numerator}/{rate.denominator} ({float(rate):.3f})".replace(".000)", ")")
