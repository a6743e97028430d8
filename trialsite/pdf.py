"""HTML to A4 PDF with WeasyPrint, for every printable document (dose sheets, randomization
confirmations). Chinese needs a CJK font on the machine (README set-up: fonts-wqy-microhei)."""

from __future__ import annotations

import logging
from typing import Any

# WeasyPrint logs every layout step at INFO: keep the worker and web logs readable.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)

_FONT_CONFIG: Any = None


def font_config() -> Any:
    """One WeasyPrint font configuration per process (fontconfig set-up costs ~10 ms a render)."""
    global _FONT_CONFIG
    if _FONT_CONFIG is None:
        from weasyprint.text.fonts import FontConfiguration

        _FONT_CONFIG = FontConfiguration()
    return _FONT_CONFIG


def html_to_pdf(html: str) -> bytes:
    from weasyprint import HTML

    data: bytes = HTML(string=html).write_pdf(font_config=font_config())
    return data
