"""Numbers of the synthetic corpora: Chinese numerals and text lengths.

:func:`chinese_numeral` writes article numbers the way statutes do. Text
lengths follow clipped log-normal-like distributions (:data:`_LEN`), tabulated
at import as quantile knots with plain float arithmetic (no ``math`` library
calls, see :func:`_exp`), so the same seed gives the same lengths on any machine.
"""

from __future__ import annotations

from typing import Callable

_DIGITS = "零一二三四五六七八九"


def chinese_numeral(n: int) -> str:
    """``n`` (1–9999) in Chinese numerals as statutes write article numbers:
    ``1079`` → ``"一千零七十九"``, ``110`` → ``"一百一十"``, ``15`` → ``"十五"``."""
    if not 0 < n < 10000:
        raise ValueError(f"chinese_numeral takes 1 to 9999, got {n!r}")
    if n < 20:
        return _DIGITS[n] if n < 10 else "十" + (_DIGITS[n - 10] if n > 10 else "")
    parts = []
    pending_zero = started = False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = n // value % 10
        if digit:
            if pending_zero:
                parts.append("零")
                pending_zero = False
            parts.append(_DIGITS[digit] + unit)
            started = True
        elif started:
            pending_zero = True
    return "".join(parts)


def _article(number: int, sub: int = 0) -> str:
    text = f"第{chinese_numeral(number)}条"
    return text + f"之{chinese_numeral(sub)}" if sub else text


def _exp(x: float) -> float:
    # exp() from + * / only (correctly rounded everywhere), so that length
    # tables do not depend on the platform's math library.
    halvings = 0
    while abs(x) > 0.5:
        x /= 2
        halvings += 1
    term = total = 1.0
    for k in range(1, 20):
        term = term * x / k
        total += term
    for _ in range(halvings):
        total *= total
    return total


# Standard normal quantiles at p = 1/16 .. 15/16.
_Z16 = (-1.5341, -1.1503, -0.8871, -0.6745, -0.4888, -0.3186, -0.1573, 0.0,
        0.1573, 0.3186, 0.4888, 0.6745, 0.8871, 1.1503, 1.5341)


def _lognormal(median: int, sigma: float, lo: int, hi: int) -> tuple[int, ...]:
    """17 quantile knots (p = 0, 1/16, …, 1) of a log-normal length clipped
    to [lo, hi]; :func:`_draw` interpolates between them."""
    inner = [min(hi, max(lo, round(median * _exp(sigma * z)))) for z in _Z16]
    return (lo, *inner, hi)


def _draw(knots: tuple[int, ...], rr: Callable[[], float]) -> int:
    u = rr() * 16
    i = int(u)
    a = knots[i]
    return a + int((knots[i + 1] - a) * (u - i))


_LEN = {
    # questions / answers of consultations
    "q52": _lognormal(26, 0.55, 10, 200),
    "a52": _lognormal(165, 0.55, 50, 800),
    "q92": _lognormal(28, 0.55, 10, 200),
    "a92": _lognormal(175, 0.55, 50, 800),
    "qa_q": _lognormal(40, 0.6, 15, 300),
    "qa_a": _lognormal(200, 0.6, 30, 1500),
    # DISC tasks
    "ie_text": _lognormal(200, 0.5, 60, 1500),
    "ed_text": _lognormal(80, 0.5, 25, 400),
    "cc_text": _lognormal(230, 0.5, 80, 2000),
    "jp_text": _lognormal(380, 0.5, 120, 2500),
    "cm_text": _lognormal(300, 0.4, 120, 900),
    "ts_text": _lognormal(600, 0.45, 250, 2300),
    "ts_sum": _lognormal(150, 0.4, 50, 600),
    "jos_text": _lognormal(480, 0.45, 180, 2500),
    "jos_sum": _lognormal(100, 0.4, 30, 400),
    "rc_text": _lognormal(240, 0.45, 100, 1500),
    "je_expl": _lognormal(150, 0.5, 30, 800),
}
"""Length distributions (characters) by use, as :func:`_lognormal` knots."""
