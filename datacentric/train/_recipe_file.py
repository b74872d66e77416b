"""Reading model files safely: a crafted file gets a one-line error, never a big allocation.

A recipe file (written by ``recipe.save``) and a ResNet-18 weights file are read with
``torch.load(weights_only=True)`` (no code runs), after checks on the archive itself, and
their content is checked against what the recipe expects *before* the network is allocated:

- the file must be the zip archive ``torch.save`` writes, with stored (uncompressed)
  entries whose sizes add up to no more than the file (so reading it costs its size; the
  legacy format, which allocates the storage sizes a file *claims*, is refused);
- the content's structure (format, parameters, classes, normalisation, state dict) has the
  expected types, with plain values only, every parameter name known;
- the state dict's names, shapes and dtypes equal those of the network built on the
  ``meta`` device (which allocates nothing), every tensor holds its own data (no
  broadcast view of a few bytes standing for a large tensor) and only finite values.

Every problem is a :class:`~datacentric.exceptions.SchemaError` naming the file.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datacentric._read import describe
from datacentric.exceptions import SchemaError, format_items

if TYPE_CHECKING:
    import torch

__all__ = [
    "check_classes",
    "check_file_params",
    "check_state_dict",
    "check_vector",
    "describe",
    "read_torch_file",
]

_MAX_TEXT = 10_000  # longest string parameter or class name read from a file


def _torch_error(exc: BaseException) -> str:
    """One line out of torch's (often multi-paragraph) load error, without its advice to
    load the file unsafely."""
    text = str(exc)
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found is not None or "Weights only load failed" in text:
        what = f" ({found.group(1)})" if found is not None else ""
        return (
            f"it holds Python objects other than tensors and plain data{what}, which are "
            "never loaded: loading them could run code"
        )
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    chosen = lines[0] if lines else ""
    chosen = chosen if len(chosen) <= 200 else chosen[:197] + "..."
    return f"{type(exc).__name__}: {chosen}" if chosen else type(exc).__name__


def read_torch_file(path: str | Path, who: str, what: str, fix: str) -> Any:
    """``torch.load(path, weights_only=True)`` of a file ``torch.save`` wrote, after checks.

    Parameters
    ----------
    path : str or Path
        The file.
    who : str
        Prefix of messages, e.g. ``"load_recipe"``.
    what : str
        What the file should be, e.g. ``"a saved recipe"``.
    fix : str
        How to get a good file (the end of every message).

    Raises
    ------
    SchemaError
        The file is not a zip archive written by ``torch.save``, holds compressed or
        oversized entries, or ``torch.load`` refuses it (truncated, or Python objects other
        than tensors and plain data: nothing in it is executed).
    """
    import torch

    path = Path(path)
    head = f"{who}: {str(path)!r} could not be read as {what}"
    try:
        size = path.stat().st_size
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        reason = "it is not the zip archive torch.save writes, or it is truncated"
        if isinstance(exc, OSError) and not isinstance(exc, zipfile.BadZipFile):
            reason = f"{exc.strerror or exc}"
        raise SchemaError(f"{head} ({reason}). {fix}") from None
    compressed = [e.filename for e in entries if e.compress_type != zipfile.ZIP_STORED]
    if compressed:
        raise SchemaError(
            f"{head}: it holds compressed entries ({format_items(compressed, limit=3)}), which "
            f"torch.save never writes. {fix}"
        )
    claimed = sum(e.file_size for e in entries)
    if claimed > size:
        raise SchemaError(
            f"{head}: its entries claim {claimed:,} bytes, more than the file's {size:,} "
            f"(a truncated or crafted archive). {fix}"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a foreign or truncated file
        raise SchemaError(
            f"{head} with torch.load(weights_only=True) ({_torch_error(exc)}). {fix}"
        ) from None


def check_file_params(
    who: str, path: str | Path, params: Any, valid: Sequence[str], fix: str
) -> dict[str, Any]:
    """The saved hyper-parameters: a mapping of known names to plain values (or SchemaError)."""
    if not isinstance(params, Mapping):
        raise SchemaError(
            f"{who}: {str(path)!r} holds parameters that are {describe(params)}, not a "
            f"mapping of names to values. {fix}"
        )
    out: dict[str, Any] = {}
    for name, value in params.items():
        if not isinstance(name, str) or name not in valid:
            raise SchemaError(
                f"{who}: {str(path)!r} names the unknown parameter {describe(name)}; valid: "
                f"{format_items(list(valid), limit=20)}. {fix}"
            )
        if value is not None and not isinstance(value, (bool, int, float, str)):
            raise SchemaError(
                f"{who}: {str(path)!r} gives parameter {name!r} the value {describe(value)}; "
                f"parameters are plain numbers, booleans, text or null. {fix}"
            )
        if isinstance(value, str) and len(value) > _MAX_TEXT:
            raise SchemaError(
                f"{who}: {str(path)!r} gives parameter {name!r} a text of {len(value):,} "
                f"characters (at most {_MAX_TEXT:,}). {fix}"
            )
        out[name] = value
    return out


def check_classes(who: str, path: str | Path, classes: Any, fix: str) -> list[str]:
    """The saved class names: a non-empty list of distinct, short strings."""
    if not isinstance(classes, (list, tuple)) or not classes:
        raise SchemaError(
            f"{who}: {str(path)!r} holds classes that are {describe(classes)}, not a non-empty "
            f"list of class names. {fix}"
        )
    bad = next((c for c in classes if not isinstance(c, str) or len(c) > _MAX_TEXT), None)
    if bad is not None:
        raise SchemaError(
            f"{who}: {str(path)!r} holds the class name {describe(bad)}; class names are "
            f"text. {fix}"
        )
    if len(set(classes)) != len(classes):
        seen: set[str] = set()
        dup = [c for c in classes if c in seen or seen.add(c)]  # type: ignore[func-returns-value]
        raise SchemaError(
            f"{who}: {str(path)!r} lists the class(es) {format_items(dup, limit=3)} more than "
            f"once. {fix}"
        )
    return list(classes)


def _holds_own_data(tensor: torch.Tensor) -> bool:
    """Whether ``tensor``'s storage is at least as large as its elements (no stride-0 bomb)."""
    needed = tensor.numel() * tensor.element_size()
    return needed == 0 or bool(tensor.untyped_storage().nbytes() >= needed)


def _tensor_problem(tensor: Any, expected: torch.Tensor) -> str | None:
    """Why ``tensor`` cannot stand for ``expected`` (a meta tensor), or None."""
    import torch

    if not isinstance(tensor, torch.Tensor):
        return f"is {describe(tensor)}, not a tensor"
    if tensor.layout != torch.strided or tensor.is_quantized or tensor.device.type != "cpu":
        return f"is a {tensor.layout} {tensor.device.type} tensor, not a plain (dense) one"
    if tuple(tensor.shape) != tuple(expected.shape):
        return f"has shape {list(tensor.shape)}, expected {list(expected.shape)}"
    if (
        tensor.is_complex()
        or tensor.dtype == torch.bool
        or (tensor.is_floating_point() != expected.is_floating_point())
    ):
        return f"has dtype {tensor.dtype}, expected {expected.dtype}"
    if not _holds_own_data(tensor):
        return "is a view repeating fewer stored values than it has elements"
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        return "holds NaN or infinite values"
    return None


def check_state_dict(
    who: str,
    path: str | Path,
    found: Any,
    expected: Mapping[str, torch.Tensor],
    fix: str,
    network: str = "the network its parameters describe",
) -> dict[str, torch.Tensor]:
    """The saved weights, checked against ``expected`` (the meta network's state dict).

    Names must be the same set; every value a dense CPU tensor of the expected shape and
    kind of dtype, holding its own, finite data.
    """
    if not isinstance(found, Mapping):
        raise SchemaError(
            f"{who}: {str(path)!r} holds weights that are {describe(found)}, not a state_dict "
            f"(a mapping of parameter names to tensors). {fix}"
        )
    if not found:
        raise SchemaError(
            f"{who}: {str(path)!r} holds an empty state_dict; {network} has "
            f"{len(expected)} tensors ({format_items(list(expected), limit=3)}). {fix}"
        )
    names = [k for k in found if isinstance(k, str)]
    if len(names) != len(found):
        bad = next(k for k in found if not isinstance(k, str))
        raise SchemaError(
            f"{who}: {str(path)!r} has a state_dict key that is {describe(bad)}, not a "
            f"parameter name. {fix}"
        )
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in names if k not in expected]
    if missing or unexpected:
        raise SchemaError(
            f"{who}: {str(path)!r} does not match {network} (missing keys: "
            f"{format_items(missing, limit=3) or 'none'}; unexpected keys: "
            f"{format_items(unexpected, limit=3) or 'none'}). {fix}"
        )
    for name, meta in expected.items():
        problem = _tensor_problem(found[name], meta)
        if problem is not None:
            raise SchemaError(f"{who}: {str(path)!r}: the weight {name!r} {problem}. {fix}")
    return {k: found[k] for k in expected}


def check_vector(who: str, path: str | Path, name: str, value: Any, size: int, fix: str) -> Any:
    """A saved per-channel statistic: a finite float tensor of ``size`` values (as numpy)."""
    import numpy as np
    import torch

    shape = [size]
    problem = _tensor_problem(value, torch.empty(shape, device="meta"))
    if problem is None and name == "std" and not bool((value > 0).all()):
        problem = "holds values <= 0"
    if problem is not None:
        raise SchemaError(f"{who}: {str(path)!r}: the normalisation {name!r} {problem}. {fix}")
    return value.numpy().astype(np.float32)
