"""Reading text corpora: UTF-8 files with clear errors, the train/validation split, and the bundled corpus.

``read_text`` returns the file's characters exactly as stored: no newline translation (a ``"\\r\\n"``
file keeps its ``"\\r"``), only a leading UTF-8 byte-order mark is dropped. ``decode_text`` is the one
decoder of the data layer (corpora, column files, pairs). A file that cannot be a text corpus fails with
one line in the one format ``[FLAG ]PATH: message`` or ``[FLAG ]PATH:LINE: message``: missing, a folder,
empty, binary (a NUL byte), or not in its encoding (the line and byte offset of the first bad byte).

``split`` cuts a sequence into its first and last parts (nanoGPT's ``shakespeare_char`` convention:
first 90% for training, last 10% for validation), so the validation text is contiguous and never seen
during training.
"""

from __future__ import annotations

import codecs
from importlib import resources
from pathlib import Path

BUNDLED = ("tinyshakespeare",)
_BOM = b"\xef\xbb\xbf"


def read_text(path, encoding: str = "utf-8", flag: str | None = None) -> str:
    """Read a text file (UTF-8, or ``encoding``); a one-line ValueError names ``flag`` (when given), the file
    and what is wrong: missing, a folder, empty, binary, or not in its encoding."""
    path = Path(path)
    who = f"{flag} {path}" if flag else str(path)
    if not path.exists():
        raise ValueError(f"{who}: no such file")
    if path.is_dir():
        raise ValueError(f"{who}: is a folder, not a text file")
    if not path.is_file():
        raise ValueError(f"{who}: is not a regular file")
    return decode_text(path.read_bytes(), who, encoding)


def decode_text(data: bytes, source: str = "<bytes>", encoding: str = "utf-8") -> str:
    """Decode the bytes of a text file as UTF-8 (or ``encoding``) -- the one decoder of the data layer.

    ``source`` starts every error line (``source: is empty``, ``source:LINE: ...``): a file that is empty,
    holds a NUL byte (binary; not checked for UTF-16/32), or has a byte its encoding cannot decode. A
    leading UTF-8 byte-order mark is dropped; newlines are kept as stored."""
    _check_codec(encoding)
    if len(data) == 0:
        raise ValueError(f"{source}: is empty")
    nul = data.find(b"\x00")
    if nul >= 0 and not any(w in encoding for w in ("16", "32")):
        raise ValueError(f"{source}:{_line(data, nul)}: looks binary (a NUL byte at byte offset {nul}), "
                         "not a text file")
    if data.startswith(_BOM) and encoding.replace("-", "").replace("_", "").lower() in ("utf8", "utf8sig"):
        data = data[len(_BOM):]
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{source}:{_line(data, err.start)}: byte 0x{data[err.start]:02x} is not {encoding} (byte offset "
            f"{err.start}; give its encoding, e.g. --encoding latin-1)") from None


def _check_codec(encoding: str) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"encoding {encoding!r} is not a codec Python knows (try utf-8 or latin-1)") from None


def _line(data: bytes, offset: int) -> int:
    """The line (from 1, counted at b'\\n') of a byte offset."""
    return data.count(b"\n", 0, offset) + 1


def split(ids_or_text, valid_fraction: float = 0.1):
    """Cut a text or id sequence into (train, valid): the first ``1 - valid_fraction`` and the rest.

    The cut is at ``int(n * (1 - valid_fraction))`` (for tiny-shakespeare: 1,003,854 / 111,540
    characters). Works on ``str``, lists and 1-D arrays; slices are returned (views for arrays).
    ``valid_fraction = 0`` returns an empty validation part.
    """
    if not 0.0 <= valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must lie in [0, 1), got {valid_fraction}")
    n = len(ids_or_text)
    cut = int(n * (1.0 - valid_fraction))
    if cut == 0 or (valid_fraction > 0 and cut == n):
        raise ValueError(f"cannot split a sequence of length {n} with valid_fraction={valid_fraction}: "
                         "one part would be empty")
    return ids_or_text[:cut], ids_or_text[cut:]


def bundled_corpus_path(name: str = "tinyshakespeare"):
    """The packaged file of a bundled corpus (a ``pathlib.Path`` for an ordinary installation)."""
    if name not in BUNDLED:
        raise ValueError(f"no bundled corpus named {name!r} (bundled: {', '.join(BUNDLED)})")
    return resources.files("unroll.data").joinpath("corpora", f"{name}.txt")


def load_bundled(name: str = "tinyshakespeare") -> str:
    """The text of a bundled corpus (tiny-shakespeare: 1,115,394 characters, 65 distinct)."""
    resource = bundled_corpus_path(name)
    return decode_text(resource.read_bytes(), f"{name} (bundled: {resource})")
