"""Text cells of the CSV files hdpmusic writes, safe to open in a spreadsheet, and the
separator of the ones it reads."""

from __future__ import annotations

#: First characters that make a spreadsheet read a cell as a formula (and tab/CR, which
#: some strip before looking)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(text: str) -> str:
    """``text`` prefixed with ``'`` when a spreadsheet would run it as a formula.

    A model named ``=HYPERLINK("http://…")`` or ``@SUM(A1)`` would otherwise become a
    live formula in ``results.csv`` (CSV injection); the quote makes it plain text and
    shows as nothing in the cell.

    Parameters
    ----------
    text : str
        A user-given name (never a number: ``-0.5`` must stay a number).

    Returns
    -------
    str
    """
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def separator_of(line: str) -> str:
    """The field separator of a delimited text file, from its first line: a tab if the
    line holds one, else ``;`` if it holds one and no comma (as spreadsheets save CSV
    where the decimal mark is a comma), else ``,``.

    Parameters
    ----------
    line : str
        The header (or first data) line.

    Returns
    -------
    str
    """
    if "\t" in line:
        return "\t"
    return ";" if ";" in line and "," not in line else ","
