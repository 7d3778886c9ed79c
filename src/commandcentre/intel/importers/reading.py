"""Reading machinery shared by the import parsers.

Everything a parser needs before it knows its own format lives here: turning bytes into
text, cleaning single values, recognising names, emails and URLs, finding the header row
of a table (CSV or a JSON list of objects) and running a builder over each row so that a
bad row becomes a `RowError` instead of aborting the import.

Two kinds of failure exist:

* `ImportFileError`: the file as a whole cannot be imported (too big, not text, no header).
  Its message is shown to the user as is, so it names the problem.
* `RowProblem`: one row cannot be imported. Builders raise it; `collect_rows` turns it
  into a `RowError` carrying the row number and, where there is one, the field.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar
from urllib.parse import quote, unquote, urlsplit

import charset_normalizer

from commandcentre.intel.importers.records import ParseResult, RowError

T = TypeVar("T")
R = TypeVar("R")

MAX_FILE_BYTES = 20_000_000
MAX_TEXT = 10_000  # multi-line values: bios, abstracts, notes
MAX_LINE = 1_000  # single-line values: names, titles, emails

# How far down a table we look for its header: past LinkedIn's "Notes:" preamble and
# report titles, but not so far that a header-less file is scanned forever.
HEADER_SEARCH_ROWS = 30


class ImportFileError(Exception):
    """The file cannot be imported at all; the message tells the user why."""


class RowProblem(Exception):
    """One row (or one of its fields) cannot be imported as it is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class FieldTooLong(RowProblem):
    def __init__(self, field: str | None, length: int, max_len: int) -> None:
        name = field or "value"
        super().__init__(
            f"{name} is too long: {length:,} characters; the limit is {max_len:,}", field
        )
        self.length = length
        self.max_len = max_len


class NotText(RowProblem):
    """A JSON value that is an object (or other structure) where text was expected."""


# --- bytes to text ----------------------------------------------------------------------

_BOMS: tuple[tuple[bytes, str, str], ...] = (
    # UTF-32 first: its little-endian BOM starts with UTF-16's.
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)

_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
_C0_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def format_size(size: int) -> str:
    if size >= 1_000_000:
        return f"{size / 1_000_000:.1f}".removesuffix(".0") + " MB"
    return f"{size:,} bytes"


def check_size(data: bytes, max_bytes: int = MAX_FILE_BYTES) -> None:
    if len(data) > max_bytes:
        size, limit = format_size(len(data)), format_size(max_bytes)
        if size == limit:  # just over the limit: rounding would show the same number twice
            size, limit = f"{len(data):,} bytes", f"{max_bytes:,} bytes"
        raise ImportFileError(f"file is {size}; the limit is {limit}")
    if not data:
        raise ImportFileError("the file is empty")


def decode(data: bytes, *, max_bytes: int = MAX_FILE_BYTES) -> str:
    """Text of an uploaded file, with line endings normalised to "\\n".

    Order: byte-order mark, UTF-16 without one, UTF-8, then Windows-1252 when the result
    looks like Western European text (spreadsheets saved on Windows), then detection.
    """
    check_size(data, max_bytes)
    text = _decode_bytes(data)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode_bytes(data: bytes) -> str:
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(codec)
            except UnicodeDecodeError as exc:
                raise ImportFileError(
                    f"the file starts with a {label} byte-order mark but is not valid {label} "
                    f"(byte {exc.start + len(bom)})"
                ) from None
    for attempt in (_utf16_without_bom, _utf8, _plausible_cp1252, _detected):
        text = attempt(data)
        if text is not None:
            return text
    raise ImportFileError(
        "cannot tell the file's text encoding (is it a text file?); save it as UTF-8 and try again"
    )


def _utf16_without_bom(data: bytes) -> str | None:
    # ASCII-heavy UTF-16 has a NUL in every other byte, which UTF-8 would accept silently.
    head = data[:2000]
    if len(head) < 4 or head.count(0) < len(head) // 3:
        return None
    codec = "utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return None


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _plausible_cp1252(data: bytes) -> str | None:
    """Windows-1252 text, unless it looks like another single-byte encoding.

    Short Western files fool statistical detection (it guesses cp1250 for German and
    Swedish), so try cp1252 first. Cyrillic or Greek text decoded as cp1252 turns into
    long runs of accented letters, which real Western words do not have.
    """
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return None
    longest_run = max((len(run) for run in _NON_ASCII_RUN.findall(text)), default=0)
    controls = len(_C0_CONTROLS.findall(text))
    if longest_run > 3 or controls > len(text) // 100:
        return None
    return text


def _detected(data: bytes) -> str | None:
    best = charset_normalizer.from_bytes(data).best()
    return None if best is None else str(best)


# --- cleaning values --------------------------------------------------------------------

_CONTROL_TABLE: dict[int, str | None] = {
    **{code: None for code in range(0x20) if code not in (0x09, 0x0A)},
    0x7F: None,
    **dict.fromkeys(range(0x80, 0xA0)),  # C1 controls, left over from mis-decoded text
    0xFEFF: None,  # stray byte-order marks inside cells (concatenated exports)
    0x200B: None,  # zero-width space, pasted from web pages
    0x2028: "\n",
    0x2029: "\n",
}
_SURROGATES = re.compile(r"[\ud800-\udfff]")


def _as_text(value: object, field: str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list) and all(isinstance(item, str | int | float) for item in value):
        return ", ".join(str(item) for item in value)
    raise NotText(f"{field or 'value'} should be text, not {json_kind(value)}", field)


def _clean(value: object, field: str | None) -> str:
    text = _as_text(value, field) or ""
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_CONTROL_TABLE)
    # Lone surrogates come from broken JSON escapes and cannot be stored or encoded.
    return unicodedata.normalize("NFC", _SURROGATES.sub("", text)).strip()


def _limited(text: str, max_len: int, field: str | None) -> str | None:
    if len(text) > max_len:
        raise FieldTooLong(field, len(text), max_len)
    return text or None


def clean_text(value: object, *, max_len: int = MAX_TEXT, field: str | None = None) -> str | None:
    """Text without control characters (tabs and newlines kept), trimmed; None when empty.

    Raises `FieldTooLong` naming `field` when the cleaned text exceeds `max_len`, and
    `NotText` for JSON objects and other structures.
    """
    return _limited(_clean(value, field), max_len, field)


def clean_line(value: object, *, max_len: int = MAX_LINE, field: str | None = None) -> str | None:
    """Like `clean_text`, with all runs of whitespace (newlines too) collapsed to one space."""
    return _limited(" ".join(_clean(value, field).split()), max_len, field)


def json_kind(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null" if value is None else type(value).__name__


# --- names, emails, URLs ----------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_HONORIFICS = _words("mr mrs ms mx miss dr prof professor sir dame rev herr frau mme mlle")
_POST_NOMINALS = _words(
    "phd md mba msc bsc ba ma meng beng esq cpa pmp obe mbe cbe frs dphil jd llm"
)
_GENERATIONAL = _words("jr sr ii iii iv")
_INITIAL = re.compile(r"^\w\.?$")


def _name_key(token: str) -> str:
    return token.casefold().replace(".", "").strip(",")


def split_name(full_name: str) -> tuple[str | None, str | None]:
    """Guess (first, last) from a full name.

    "Dr. Jane van der Berg" -> ("Jane", "van der Berg"); "Berg, Jane" -> ("Jane", "Berg").
    The first word is the first name and the rest is the last name, minus honorifics,
    middle initials and post-nominals. That keeps particles and double surnames ("Robla
    Mota") whole; a middle name lands in the last name, which is the cheaper mistake
    because people are matched on the full name and email, not on the split.
    """
    segments = [segment.strip() for segment in full_name.split(",")]
    suffix = ""
    while len(segments) > 1 and segments[-1] and _is_suffix_segment(segments[-1]):
        last_segment = segments.pop()
        if _name_key(last_segment) in _GENERATIONAL:
            suffix = f" {last_segment}"
    segments = [segment for segment in segments if segment]
    if len(segments) == 2:
        # "Last, First Middle" as CRMs and citation lists write it.
        first_tokens = _strip_titles(segments[1].split())
        last_tokens = segments[0].split()
        if first_tokens and last_tokens:
            return first_tokens[0], " ".join(last_tokens) + suffix
    tokens = _strip_titles(" ".join(segments).split())
    if not tokens:
        return None, None
    first, rest = tokens[0], tokens[1:]
    while len(rest) > 1 and _INITIAL.match(rest[0]):
        rest = rest[1:]
    last = " ".join(rest) + suffix
    return first, last.strip() or None


def _is_suffix_segment(segment: str) -> bool:
    tokens = segment.split()
    return bool(tokens) and all(_name_key(t) in _POST_NOMINALS | _GENERATIONAL for t in tokens)


def _strip_titles(tokens: list[str]) -> list[str]:
    while len(tokens) > 1 and _name_key(tokens[0]) in _HONORIFICS:
        tokens = tokens[1:]
    while len(tokens) > 1 and _name_key(tokens[-1]) in _POST_NOMINALS:
        tokens = tokens[:-1]
    return tokens


_EMAIL = re.compile(
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$"
)
_ANGLE_ADDRESS = re.compile(r"<([^<>]+)>\s*$")


def normalise_email(value: str) -> str | None:
    """The lower-cased address, or None when `value` is not a plausible email address.

    Accepts "mailto:" links and "Jane Doe <jane@example.com>" as mail clients copy them.
    """
    text = value.strip()
    angle = _ANGLE_ADDRESS.search(text)
    if angle:
        text = angle.group(1)
    text = text.strip().removeprefix("mailto:").removeprefix("MAILTO:").strip().lower()
    if len(text) > 254 or not _EMAIL.match(text):
        return None
    return text


def _split_url(value: str) -> tuple[str, str] | None:
    """(host, path) of a URL given with or without its scheme; None when it has no host."""
    text = value.strip()
    if not text or any(ch.isspace() for ch in text):
        return None
    if "://" not in text:
        text = "//" + text
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        return None
    if not host:
        return None
    return host.rstrip("."), parts.path


def normalise_linkedin_url(value: str) -> str | None:
    """Canonical `https://www.linkedin.com/in/<slug>` for a person's profile, else None.

    Country subdomains, tracking parameters, trailing slashes, section paths and case
    differences all map to the same URL so that the same person is recognised.
    """
    parts = _split_url(value)
    if parts is None:
        return None
    host, path = parts
    if host != "linkedin.com" and not host.endswith(".linkedin.com"):
        return None
    segments = [segment for segment in path.split("/") if segment]
    if len(segments) < 2 or segments[0].lower() not in ("in", "pub"):
        return None  # company pages, posts and search results are not a person
    kind = segments[0].lower()
    keep = segments[1:2] if kind == "in" else segments[1:]
    slug = "/".join(quote(unquote(segment).lower(), safe="-_.~") for segment in keep)
    return f"https://www.linkedin.com/{kind}/{slug}"


_HOST = re.compile(r"^(?:[^\W_](?:[^\W_]|-){0,62}\.)+[^\W\d_](?:[^\W_]|-){0,62}$")


def url_host(value: str) -> str | None:
    """The host of a URL or bare domain, lower-cased and without "www."; None if not one."""
    parts = _split_url(value)
    if parts is None:
        return None
    host = parts[0].lower().removeprefix("www.")
    return host if _HOST.match(host) else None


# --- JSON -------------------------------------------------------------------------------


def load_json(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(
            f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise ImportFileError("not valid JSON: it is nested too deeply") from None
    except ValueError as exc:  # e.g. integers longer than Python accepts
        raise ImportFileError(f"not valid JSON: {exc}") from None


def find_record_list(document: object, keys: Sequence[str], what: str) -> list[object]:
    """The list of records in a JSON document: the document itself or a list inside it.

    Exports wrap their list in an object more often than not ({"speakers": [...]}, or
    {"data": [...], "meta": {...}}), so look under the usual keys, then for the only list.
    """
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        by_key = {str(key).casefold(): value for key, value in document.items()}
        for key in keys:
            found = by_key.get(key)
            if isinstance(found, list):
                return found
        lists = [value for value in document.values() if isinstance(value, list)]
        if len(lists) == 1:
            return lists[0]
    names = ", ".join(f"'{key}'" for key in keys[:3])
    raise ImportFileError(
        f"expected a JSON list of {what}, or an object holding one under a key such as "
        f"{names}; found {json_kind(document)}"
    )


# --- tables -----------------------------------------------------------------------------


def header_key(label: object) -> str:
    """Comparable form of a column label: case, spaces, underscores and dashes ignored."""
    text = unicodedata.normalize("NFKC", str(label)).casefold()
    return "".join(ch for ch in text if ch.isalnum())


@dataclass(frozen=True, slots=True)
class Schema:
    """The columns a kind of table may have.

    `synonyms` maps each record field to the header labels that mean it, most specific
    first. `mappable` lists the fields a user may name in an explicit column mapping
    (internal helper fields are left out). A row is a header candidate only when one of
    the `anchors` fields matches; `required` lists alternatives of which one must match.
    """

    synonyms: Mapping[str, tuple[str, ...]]
    mappable: tuple[str, ...]
    anchors: frozenset[str]
    required: tuple[str, ...]
    required_label: str

    def keys(self, field: str) -> tuple[str, ...]:
        return tuple(header_key(label) for label in self.synonyms.get(field, ()))


Columns = Mapping[str, tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class TableData:
    """One data row: its number as the user sees it, and its cells (or why it has none)."""

    number: int
    cells: Sequence[object]
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Table:
    labels: tuple[str, ...]
    columns: Columns
    rows: list[TableData]
    skipped: int = 0

    def with_columns(self, columns: Columns) -> Table:
        return replace(self, columns=columns)


def check_mapping(mapping: Mapping[str, str], schema: Schema) -> None:
    for field, column in mapping.items():
        if field not in schema.mappable:
            known = ", ".join(schema.mappable)
            raise ImportFileError(
                f"unknown field '{field}' in the column mapping; known fields: {known}"
            )
        if not str(column).strip():
            raise ImportFileError(f"the column mapping for '{field}' is empty")


def _find_label(labels: Sequence[str], column: str) -> int | None:
    if column in labels:
        return labels.index(column)
    wanted = header_key(column)
    keys = [header_key(label) for label in labels]
    return keys.index(wanted) if wanted and wanted in keys else None


def _found_labels(labels: Sequence[str]) -> str:
    shown = [f"'{label}'" for label in labels if label.strip()][:40]
    return ", ".join(shown) if shown else "no column names"


def resolve_columns(
    labels: Sequence[str], schema: Schema, mapping: Mapping[str, str] | None = None
) -> dict[str, tuple[int, ...]]:
    """Which column indexes feed each field. Mapped fields first, then synonyms.

    A field may get several columns (in synonym order) so that a row falls back to the
    next one when the first is empty; a column feeds only one field.
    """
    columns: dict[str, tuple[int, ...]] = {}
    taken: set[int] = set()
    for field, column in (mapping or {}).items():
        index = _find_label(labels, column)
        if index is None:
            raise ImportFileError(
                f"column '{column}' (mapped to '{field}') not found; found: {_found_labels(labels)}"
            )
        columns[field] = (index,)
        taken.add(index)
    keys = [header_key(label) for label in labels]
    for field in schema.synonyms:
        if field in columns:
            continue
        indexes: list[int] = []
        for synonym in schema.keys(field):
            indexes.extend(i for i, key in enumerate(keys) if key == synonym and i not in taken)
            taken.update(indexes)
        if indexes:
            columns[field] = tuple(indexes)
    return columns


def require_columns(table: Table, schema: Schema) -> None:
    if not any(field in table.columns for field in schema.required):
        found = _found_labels(table.labels)
        raise ImportFileError(f"missing required column {schema.required_label} (found: {found})")


def _header_score(cells: Sequence[str], schema: Schema, mapping: Mapping[str, str] | None) -> int:
    if not any(cell.strip() for cell in cells):
        return 0
    if mapping:
        if any(_find_label(cells, column) is None for column in mapping.values()):
            return 0
        return len(mapping) + len(resolve_columns(cells, schema, mapping))
    matched = resolve_columns(cells, schema)
    return len(matched) if schema.anchors & matched.keys() else 0


_DELIMITERS = (",", ";", "\t")
_EXCEL_SEPARATOR = re.compile(r"^\"?sep=([,;\t|])\"?\s*$", re.IGNORECASE)


def _csv_records(text: str, delimiter: str) -> list[list[str]]:
    # The csv module refuses cells over 128 KiB; a huge cell must become a row error
    # naming its field, not a failed import. Only ever raised, so other readers are safe.
    if csv.field_size_limit() < MAX_FILE_BYTES:
        csv.field_size_limit(MAX_FILE_BYTES)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return list(reader)
    except csv.Error as exc:
        raise ImportFileError(f"cannot read the CSV near line {reader.line_num}: {exc}") from None


def _sample(text: str) -> str:
    # Enough lines to get past any preamble; cut at a line end to keep the last row whole.
    head = text[:65_536]
    return head if len(head) < len(text) else head[: head.rfind("\n") + 1] or head


def _pick_header(
    text: str, schema: Schema, mapping: Mapping[str, str] | None
) -> tuple[str, int] | None:
    """(delimiter, header row index) with the most recognised columns, if any."""
    first_line = text[:100].split("\n", 1)[0]
    hint = _EXCEL_SEPARATOR.match(first_line)
    delimiters = (hint.group(1),) if hint else _DELIMITERS
    sample = _sample(text)
    best: tuple[int, str, int] | None = None
    for delimiter in delimiters:
        records = _csv_records(sample, delimiter)[:HEADER_SEARCH_ROWS]
        for index, cells in enumerate(records):
            score = _header_score(cells, schema, mapping)
            if score and (best is None or score > best[0]):
                best = (score, delimiter, index)
            if score:
                break
    return None if best is None else (best[1], best[2])


def _no_header(text: str, schema: Schema, mapping: Mapping[str, str] | None) -> ImportFileError:
    first = next((line for line in text[:65_536].split("\n") if line.strip()), "")
    shown = first if len(first) <= 120 else first[:117] + "..."
    if mapping:
        wanted = ", ".join(f"'{column}'" for column in mapping.values())
        return ImportFileError(
            f"no header row found with the mapped columns {wanted} "
            f"in the first {HEADER_SEARCH_ROWS} rows (first line: '{shown}')"
        )
    return ImportFileError(
        f"no header row found: none of the first {HEADER_SEARCH_ROWS} rows has a column such as "
        f"{schema.required_label} (first line: '{shown}')"
    )


_FOOTER = re.compile(
    r"^(confidential information|copyright\s*(\(c\)|©)|©|grand totals?\b|generated by\b)",
    re.IGNORECASE,
)


def _is_footer(cells: Sequence[str]) -> bool:
    filled = [cell.strip() for cell in cells if cell.strip()]
    return len(filled) == 1 and bool(_FOOTER.match(filled[0]))


def read_csv_table(text: str, schema: Schema, mapping: Mapping[str, str] | None = None) -> Table:
    """Header and data rows of delimited text (comma, semicolon or tab, sniffed).

    Row numbers count records from the top of the file, preamble and header included,
    as a spreadsheet shows them. Blank rows are ignored; report footers (Salesforce's
    "Confidential Information", "Copyright (c)", "Grand Totals") end the data, and the
    footer rows are counted as skipped.
    """
    picked = _pick_header(text, schema, mapping)
    if picked is None:
        raise _no_header(text, schema, mapping)
    delimiter, header_index = picked
    records = _csv_records(text, delimiter)
    labels = tuple(cell.strip().lstrip("\ufeff") for cell in records[header_index])
    rows: list[TableData] = []
    skipped = 0
    in_footer = False
    for index in range(header_index + 1, len(records)):
        cells = records[index]
        if not any(cell.strip() for cell in cells):
            continue
        in_footer = in_footer or _is_footer(cells)
        if in_footer:
            skipped += 1
            continue
        rows.append(TableData(number=index + 1, cells=cells))
    return Table(labels, resolve_columns(labels, schema, mapping), rows, skipped)


def json_table(items: Sequence[object], schema: Schema, mapping: Mapping[str, str] | None) -> Table:
    """A table over a list of JSON objects: the columns are all keys, in order of appearance."""
    seen: dict[str, None] = {}
    for item in items:
        if isinstance(item, dict):
            seen.update(dict.fromkeys(str(key) for key in item))
    labels = tuple(seen)
    rows: list[TableData] = []
    for number, item in enumerate(items, start=1):
        if isinstance(item, dict):
            by_label = {str(key): value for key, value in item.items()}
            rows.append(TableData(number, [by_label.get(label) for label in labels]))
        else:
            rows.append(TableData(number, (), f"expected an object, found {json_kind(item)}"))
    return Table(labels, resolve_columns(labels, schema, mapping), rows)


# --- rows to records --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RowNotes:
    """Lets a builder record a problem with a field while still keeping the row."""

    row: int
    errors: list[RowError]

    def add(self, message: str, field: str | None = None) -> None:
        self.errors.append(RowError(self.row, message, field))


def collect_rows(
    result: ParseResult[T],
    rows: Iterable[tuple[int, R]],
    build: Callable[[RowNotes, R], T | None],
) -> ParseResult[T]:
    """Run `build` on every row: a record is kept, None counts as skipped, and a
    `RowProblem` becomes a `RowError` so one bad row never stops the import."""
    for number, raw in rows:
        notes = RowNotes(number, result.errors)
        try:
            record = build(notes, raw)
        except RowProblem as problem:
            result.errors.append(RowError(number, problem.message, problem.field))
            continue
        except OverflowError:
            # Dates like year 9999 plus a duration or a time-zone shift leave the
            # calendar; that is bad input in this row, not a broken file.
            result.errors.append(RowError(number, "a date or time is out of range"))
            continue
        if record is None:
            result.skipped += 1
        else:
            result.records.append(record)
    return result


@dataclass(frozen=True, slots=True)
class TableRow:
    """Field access to one table row: cleaned values by record field name."""

    notes: RowNotes
    table: Table
    cells: Sequence[object]

    @property
    def number(self) -> int:
        return self.notes.row

    def raw_values(self, field: str) -> Iterator[object]:
        for index in self.table.columns.get(field, ()):
            if index < len(self.cells):
                yield self.cells[index]

    def line(self, field: str, *, max_len: int = MAX_LINE) -> str | None:
        return self._first(field, lambda value: clean_line(value, max_len=max_len, field=field))

    def text(self, field: str, *, max_len: int = MAX_TEXT) -> str | None:
        return self._first(field, lambda value: clean_text(value, max_len=max_len, field=field))

    def note(self, message: str, field: str | None = None) -> None:
        self.notes.add(message, field)

    def _first(self, field: str, clean: Callable[[object], str | None]) -> str | None:
        for value in self.raw_values(field):
            try:
                text = clean(value)
            except NotText as problem:
                # A structured JSON value in one field should not cost the whole row.
                self.note(f"{problem.message}; ignored", field)
                continue
            if text is not None:
                return text
        return None


def collect_table(
    result: ParseResult[T], table: Table, build: Callable[[TableRow], T | None]
) -> ParseResult[T]:
    def build_row(notes: RowNotes, data: TableData) -> T | None:
        if data.problem is not None:
            raise RowProblem(data.problem)
        return build(TableRow(notes, table, data.cells))

    result.skipped += table.skipped
    return collect_rows(result, ((data.number, data) for data in table.rows), build_row)


def shorten(value: str, limit: int = 80) -> str:
    """A value quoted in an error message, cut so that messages stay readable."""
    return value if len(value) <= limit else value[: limit - 3] + "..."
