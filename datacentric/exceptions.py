"""One exception tree for everything datacentric raises on purpose.

Every error message follows one form: what was wrong, what was received, the valid
options where there are some, and how to fix it. Catch :class:`DatacentricError` to
handle all of them; the subclasses that describe bad input also derive from
:class:`ValueError` so generic code that expects ``ValueError`` keeps working.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "BatchConflictError",
    "CalibrationDataError",
    "CommitConflictError",
    "DatacentricError",
    "DuplicateSampleIdError",
    "EmptyDatasetError",
    "EngineError",
    "ExportVerificationError",
    "FiftyOneError",
    "FileAccessError",
    "ImageTooLargeError",
    "IntegrationError",
    "InvalidAnnotationError",
    "InvalidDatasetError",
    "InvalidParameterError",
    "LabelStudioError",
    "LimitExceededError",
    "MissingDependencyError",
    "MissingImageError",
    "MonitorStoreError",
    "NoStoreError",
    "ParameterLimitError",
    "PathEscapeError",
    "RegionError",
    "SchemaError",
    "ServerUnavailableError",
    "StoreError",
    "UnknownLabelError",
    "UnreadableImageError",
    "VersionNotFoundError",
]

_MAX_LISTED = 10


def format_items(
    items: Sequence[object], limit: int = _MAX_LISTED, *, total: int | None = None
) -> str:
    """Render a list of offending items for an error message, truncated with a count.

    ``total`` is the number of offending items when ``items`` holds only the first few
    (so the "... and N more" count stays right); by default ``len(items)``.

    Examples
    --------
    >>> format_items(["a", "b"])
    "'a', 'b'"
    >>> format_items(list(range(12)), limit=3)
    '0, 1, 2 ... and 9 more'
    >>> format_items([0, 1, 2], total=500)
    '0, 1, 2 ... and 497 more'
    """
    shown = ", ".join(repr(x) for x in items[:limit])
    rest = (len(items) if total is None else max(total, len(items))) - min(len(items), limit)
    return f"{shown} ... and {rest} more" if rest > 0 else shown


def _rebuild(
    cls: type[BaseException], args: tuple[object, ...], state: dict[str, object]
) -> object:
    err = cls.__new__(cls, *args)
    err.args = args
    for name, value in state.items():
        setattr(err, name, value)
    return err


class DatacentricError(Exception):
    """Base class of every error datacentric raises on purpose.

    Every subclass survives pickling with its message and attributes (a task that fails in
    a worker process or on a Ray node is re-raised in the caller as the same error).
    """

    def __reduce__(self) -> tuple[object, ...]:
        state = dict(self.__dict__)
        if isinstance(self, OSError):  # FileAccessError keeps the OS's errno
            state["errno"] = self.errno
        return (_rebuild, (type(self), self.args, state))


class InvalidParameterError(DatacentricError, ValueError):
    """A function or CLI argument has a value outside what it accepts.

    Attributes
    ----------
    parameter : str or None
        The parameter's name, when the error comes from a declared constraint
        (:mod:`datacentric._validation`).
    owner : str or None
        The class or function the parameter belongs to.
    """

    def __init__(
        self, message: str, *, parameter: str | None = None, owner: str | None = None
    ) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.owner = owner


class MissingDependencyError(DatacentricError, ImportError):
    """An optional dependency is not installed; the message names the pip extra."""


class SchemaError(DatacentricError, ValueError):
    """A table (manifest, predictions, batch) lacks columns or has the wrong types."""


class InvalidDatasetError(DatacentricError, ValueError):
    """The dataset content is invalid.

    Attributes
    ----------
    rows : list
        The offending row indices, sample ids or file paths, whichever names them best.
    """

    def __init__(self, message: str, rows: Sequence[object] = ()) -> None:
        super().__init__(message)
        self.rows = list(rows)


class DuplicateSampleIdError(InvalidDatasetError):
    """Two or more rows share a ``sample_id``."""


class UnknownLabelError(InvalidDatasetError):
    """A label is not among the dataset's classes."""


class MissingImageError(InvalidDatasetError):
    """An image file named by the manifest does not exist."""


class UnreadableImageError(InvalidDatasetError):
    """An image file exists but cannot be decoded (corrupt, truncated, not an image)."""


class PathEscapeError(InvalidDatasetError):
    """An image path points outside the dataset root (absolute, or with ``..``)."""


class InvalidAnnotationError(InvalidDatasetError):
    """A box annotation is invalid (duplicate id, non-finite or non-positive box, unknown class,
    unknown sample), or an annotation file (COCO JSON, YOLO txt) is malformed."""


class LimitExceededError(DatacentricError, ValueError):
    """An input exceeds a safety limit (see :mod:`datacentric.config`: pixels, YAML size, ...).

    The message names the file, the size received, the limit and the setting that raises it.
    """


class ParameterLimitError(InvalidParameterError, LimitExceededError):
    """A parameter is above a safety limit setting (e.g. a recipe's ``width`` above
    ``max_recipe_width``); the message says how to raise the limit for trusted input."""


class ImageTooLargeError(UnreadableImageError, LimitExceededError):
    """An image has more pixels than ``max_image_pixels``; it is refused before decoding."""


class FileAccessError(DatacentricError, OSError):
    """A file or directory cannot be read or written (permission denied, disk full, ...).

    The message names the path and the operating system's reason.
    """


class EmptyDatasetError(InvalidDatasetError):
    """The dataset has no samples."""


class EngineError(DatacentricError):
    """An execution engine could not run the tasks (a worker process died, a cluster was lost)."""


class StoreError(DatacentricError):
    """The versioned dataset store cannot do what was asked."""


class NoStoreError(StoreError):
    """The directory has no ``.datacentric`` store yet."""


class VersionNotFoundError(StoreError, KeyError):
    """A requested version does not exist."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0]) if self.args else ""


class CommitConflictError(StoreError):
    """HEAD moved since this dataset was opened; committing would lose the other change."""


class MonitorStoreError(StoreError):
    """The monitor store cannot be opened or does not hold what was asked."""


class BatchConflictError(MonitorStoreError):
    """A batch id is already in the store with different content."""


class IntegrationError(DatacentricError):
    """An external service (Label Studio, FiftyOne, ...) failed or refused a request."""


class LabelStudioError(IntegrationError):
    """Label Studio refused or failed a request (the message never contains the token).

    Attributes
    ----------
    status_code : int or None
        The HTTP status, when the server answered.
    """

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class RegionError(IntegrationError, ValueError):
    """A submitted annotation that cannot be read as boxes (a region that is not a box, off
    the image, too many regions ...); the message is the reason the annotation is skipped."""


class ServerUnavailableError(LabelStudioError):
    """The server could not be reached (down, wrong URL or port) after the retries."""


class FiftyOneError(IntegrationError):
    """FiftyOne refused a request, or its dataset does not hold what datacentric pushed."""


class ExportVerificationError(DatacentricError):
    """An exported ONNX model does not reproduce the torch model's outputs.

    Attributes
    ----------
    max_abs_diff : float
        The largest absolute difference between the probabilities of the two runtimes.
    tolerance : float
        The bound it exceeded.
    """

    def __init__(self, message: str, max_abs_diff: float, tolerance: float) -> None:
        super().__init__(message)
        self.max_abs_diff = max_abs_diff
        self.tolerance = tolerance


class CalibrationDataError(InvalidDatasetError):
    """The calibration data for static quantization is missing or empty."""
