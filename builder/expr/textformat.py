"""TEXT(value, format): the Excel number and date formats people actually use.

Numbers: ``0``, ``0.00``, ``#,##0``, ``#,##0.00``, ``0%``, ``0.0%``, with literal text around
them (``¥#,##0.00``, ``0.0"万"``). Dates: ``yyyy yy m mm d dd h hh mm ss`` (``mm`` after
``h``/before ``s`` is minutes) with any literal text (``yyyy年m月d日``, ``yyyy/m/d``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import re

from builder.expr.values import EvalFailure

_NUMBER_FORMAT = re.compile(r"(?P<prefix>[^0#]*?)(?P<core>[0#][0#,]*(\.0+)?)(?P<suffix>[^0#]*)")
_DATE_TOKEN = re.compile(r"yyyy|yy|mm|m|dd|d|hh|h|ss|s|\"[^\"]*\"|.", re.IGNORECASE | re.DOTALL)


def is_date_format(fmt: str) -> bool:
    return bool(re.search(r"[ydhsYDHS]", fmt)) or fmt.strip().lower() in ("m", "mm")


def format_number(value: float | int, fmt: str) -> str:
    """Raises:
    EvalFailure: ``invalid_argument`` (arg 1) for a format this subset does not know."""
    match = _NUMBER_FORMAT.fullmatch(fmt)
    if match is None:
        raise _bad_format()
    prefix, core, suffix = match.group("prefix"), match.group("core"), match.group("suffix")
    percent = "%" in suffix or "%" in prefix
    decimals = len(core.split(".")[1]) if "." in core else 0
    number = decimal.Decimal(repr(value)) * (100 if percent else 1)
    with decimal.localcontext() as ctx:
        ctx.prec = 800
        number = number.quantize(decimal.Decimal(1).scaleb(-decimals), decimal.ROUND_HALF_UP)
    body = f"{abs(number):,.{decimals}f}" if "," in core else f"{abs(number):.{decimals}f}"
    sign = "-" if number < 0 else ""
    return sign + _literal(prefix) + body + _literal(suffix)


def _literal(text: str) -> str:
    return text.replace('"', "").replace("\\", "")


def _bad_format() -> EvalFailure:
    from builder.expr.messages import Term

    return EvalFailure(
        "invalid_argument",
        arg=1,
        reason=Term("不支持这种格式", "this format is not supported"),
    )


def format_date(value: dt.date, fmt: str) -> str:
    tokens = _DATE_TOKEN.findall(fmt)
    lower = [t.lower() for t in tokens]
    out: list[str] = []
    for i, tok in enumerate(lower):
        if tok in ("m", "mm"):
            prev = next((t for t in reversed(lower[:i]) if t.isalpha()), "")
            following = next((t for t in lower[i + 1 :] if t.isalpha()), "")
            minutes = prev in ("h", "hh") or following in ("s", "ss")
            if minutes:
                number = value.minute if isinstance(value, dt.datetime) else 0
            else:
                number = value.month
            out.append(f"{number:02d}" if tok == "mm" else str(number))
        elif tok == "yyyy":
            out.append(f"{value.year:04d}")
        elif tok == "yy":
            out.append(f"{value.year % 100:02d}")
        elif tok in ("d", "dd"):
            out.append(f"{value.day:02d}" if tok == "dd" else str(value.day))
        elif tok in ("h", "hh", "s", "ss"):
            number = 0
            if isinstance(value, dt.datetime):
                number = value.hour if tok[0] == "h" else value.second
            out.append(f"{number:02d}" if len(tok) == 2 else str(number))
        else:
            out.append(tokens[i].strip('"') if tokens[i].startswith('"') else tokens[i])
    return "".join(out)
