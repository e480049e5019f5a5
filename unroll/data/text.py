"""Reading text corpora: UTF-8 files with clear errors, the train/validation split, and the bundled corpus.

``read_text`` returns the file's characters exactly as stored: no newline translation (a ``"\\r\\n"``
file keeps its ``"\\r"``), only a leading UTF-8 byte-order mark is dropped. A file that cannot be a text
corpus fails with a one-line ``ValueError`` that names the file and what is wrong with it: missing, empty,
binary (a NUL byte), or not UTF-8 (the line and byte offset of the first bad byte).

``split`` cuts a sequence into its first and last parts (nanoGPT's ``shakespeare_char`` convention:
first 90% for training, last 10% for validation), so the validation text is contiguous and never seen
during training.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

BUNDLED = ("tinyshakespeare",)
_BOM = b"\xef\xbb\xbf"


def read_text(path, encoding: str = "utf-8") -> str:
    """Read a text file (UTF-8, or ``encoding``), raising a one-line ValueError that names the file if it is
    not one."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"text file {path} does not exist")
    if not path.is_file():
        raise ValueError(f"text file {path} is not a regular file")
    return decode_text(path.read_bytes(), str(path), encoding)


def decode_text(data: bytes, source: str = "<bytes>", encoding: str = "utf-8") -> str:
    """Decode the bytes of a text corpus as UTF-8 (or ``encoding``); ``source`` names it in error messages."""
    if encoding.replace("-", "").replace("_", "").lower() not in ("utf8", "utf8sig"):
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError) as err:
            raise ValueError(f"text file {source} cannot be read as {encoding}: {err}") from None
    if len(data) == 0:
        raise ValueError(f"text file {source} is empty")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ValueError(f"text file {source} looks binary: it holds a NUL byte at {_where(data, nul)}")
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"text file {source} is not UTF-8: byte 0x{data[err.start]:02x} at {_where(data, err.start)} "
            f"cannot be decoded (give its encoding, e.g. --encoding latin-1)") from None


def _where(data: bytes, offset: int) -> str:
    """'line L (byte offset O)' of a byte offset, lines counted from 1 at b'\\n'."""
    line = data.count(b"\n", 0, offset) + 1
    return f"line {line} (byte offset {offset})"


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
