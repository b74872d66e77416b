"""`Dataset`: a polars manifest plus ordered classes, with edits, lineage and versions."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from datacentric._io import atomic_write, atomic_write_text
from datacentric._validation import (
    Interval,
    NonEmptyString,
    Options,
    SequenceOf,
    check_params,
    invalid_parameter,
    validate_call,
)
from datacentric.dataset._box_edits import BoxEditsMixin
from datacentric.dataset._edits import EditsMixin
from datacentric.dataset._schema import (
    IMAGE,
    LABEL,
    RESERVED_COLUMNS,
    SAMPLE_ID,
    SPLIT,
    VALID_SPLITS,
    check_classes,
    check_required_columns,
    normalize_manifest,
)
from datacentric.dataset.annotations import (
    TASKS,
    annotation_problems,
    empty_annotations,
    image_sizes,
    normalize_annotations,
)
from datacentric.dataset.diff import diff_annotations, diff_manifests
from datacentric.dataset.images import (
    ARRAY_PREFIX,
    CHECK_IMAGES,
    CheckImages,
    ImageSize,
    PathResolver,
    check_image_paths,
    find_unreadable,
    read_image,
)
from datacentric.dataset.lineage import empty_changes
from datacentric.dataset.loaders import ANNOTATIONS_FILE, read_annotations_file, read_folder
from datacentric.dataset.store import VersionStore
from datacentric.exceptions import (
    InvalidDatasetError,
    SchemaError,
    StoreError,
    UnknownLabelError,
    format_items,
)

__all__ = ["Dataset"]


class Dataset(EditsMixin, BoxEditsMixin):
    """Samples of an image dataset: a manifest, its ordered classes and, for detection, boxes.

    The manifest is a :class:`polars.DataFrame` with ``sample_id`` (unique), ``image``
    (a path relative to ``root``, or ``array:<i>`` for in-memory arrays), ``label``
    (null for unlabeled), ``split`` (train/val/test), an optional ``annotator`` and any
    number of metadata columns, which are the slice features.

    A detection dataset (``task="detection"``) also carries :attr:`annotations`, one row
    per box (see :mod:`datacentric.dataset.annotations`); its manifest ``label`` is null
    (the classes belong to the boxes). Box edits (:meth:`add_boxes`, :meth:`remove_boxes`,
    :meth:`relabel_boxes`, :meth:`move_boxes`) record lineage per ``annotation_id``. Build one
    with :meth:`from_coco` or :meth:`from_yolo`; see ``docs/detection.md``.

    Edits (:meth:`relabel`, :meth:`remove`, :meth:`add`) change the working copy and
    record lineage; :meth:`commit` writes them as a new immutable version under
    ``root/.datacentric``. Build one with :meth:`from_folder`, :meth:`from_arrays` or
    :meth:`open`.

    Examples
    --------
    >>> import numpy as np
    >>> ds = Dataset.from_arrays(np.zeros((3, 8, 8), np.uint8), ["a", "b", "a"], classes=["a", "b"])
    >>> len(ds), ds.classes
    (3, ['a', 'b'])
    >>> ds.relabel(["1"], ["a"], reason="typo").manifest["label"].to_list()
    ['a', 'a', 'a']
    >>> ds.pending_changes.select("sample_id", "old", "new").row(0)
    ('1', 'b', 'a')
    """

    def __init__(
        self,
        manifest: pl.DataFrame,
        classes: Sequence[str],
        root: str | Path | None = None,
        *,
        arrays: Sequence[np.ndarray] | np.ndarray | None = None,
        version: int | None = None,
        source: str = "manifest",
        annotations: pl.DataFrame | None = None,
        task: str | None = None,
        class_ids: Sequence[int] | None = None,
        supercategories: Sequence[str] | None = None,
    ) -> None:
        self.classes: list[str] = check_classes(classes)
        self._manifest = normalize_manifest(manifest, self.classes, source=source)
        self.root: Path | None = Path(root) if root is not None else None
        self._arrays = arrays
        self.version = version
        self._pending: list[pl.DataFrame] = []
        self._is_view = False
        task = (
            task if task is not None else ("classification" if annotations is None else "detection")
        )
        if task not in TASKS:
            raise invalid_parameter("Dataset", "task", task, "'classification' or 'detection'")
        self._task = task
        self._annotations: pl.DataFrame | None = None
        self.class_ids: list[int] | None = None
        self.supercategories: list[str] | None = None
        if task == "classification":
            if annotations is not None or class_ids is not None or supercategories is not None:
                raise SchemaError(
                    f"{source}: annotations, class_ids and supercategories belong to detection "
                    "datasets; pass task='detection' (or leave task out) with them."
                )
            return
        labelled = self._manifest.filter(pl.col(LABEL).is_not_null())[SAMPLE_ID].to_list()
        if labelled:
            raise SchemaError(
                f"{source}: a detection dataset keeps its classes on the boxes, so the manifest "
                f"label must be empty; {len(labelled)} sample(s) have one: "
                f"{format_items(labelled)}. Drop the label column's values (set them to null)."
            )
        boxes = empty_annotations() if annotations is None else annotations
        self._annotations = normalize_annotations(
            boxes, self.classes, self._manifest[SAMPLE_ID], source=source
        )
        self.class_ids = _check_class_ids(class_ids, self.classes, source)
        if supercategories is not None:
            sup = [str(s) for s in supercategories]
            if len(sup) != len(self.classes):
                raise SchemaError(
                    f"{source}: {len(sup)} supercategories for {len(self.classes)} classes; "
                    "give one per class, in class order."
                )
            self.supercategories = sup

    # ------------------------------------------------------------------ constructors
    @classmethod
    @validate_call({"check_images": CHECK_IMAGES})
    def from_folder(
        cls,
        root: str | Path,
        classes: Sequence[str] | None = None,
        *,
        check_images: CheckImages = "exists",
    ) -> Dataset:
        """Load a dataset directory.

        Accepts ``root/manifest.parquet`` or ``root/manifest.csv`` (image paths relative to
        ``root``; classes from ``classes=``, ``root/classes.txt`` or the sorted labels), or
        the ImageFolder layout ``root/<class>/<file>`` (``sample_id`` = the relative path),
        optionally ``root/<split>/<class>/<file>``. A ``root/annotations.parquet`` beside
        the manifest (written by :meth:`to_folder` of a detection dataset) makes it a
        detection dataset with those boxes.

        Parameters
        ----------
        root : str or Path
            The dataset directory.
        classes : sequence of str, optional
            The ordered classes; labels outside them raise :class:`UnknownLabelError`.
        check_images : {"exists", "none", "decode"}
            How hard to check the image files now. ``"decode"`` reads every image and
            catches truncated files and images over ``max_image_pixels``; ``"exists"``
            (default) only stats them. Every mode refuses paths that lead outside ``root``,
            symbolic links resolved (:class:`~datacentric.exceptions.PathEscapeError`;
            see ``allow_symlinks_outside`` in :mod:`datacentric.config`).

        Examples
        --------
        >>> import tempfile
        >>> from pathlib import Path
        >>> from PIL import Image
        >>> d = Path(tempfile.mkdtemp())
        >>> for c in ("cat", "dog"):
        ...     (d / c).mkdir()
        ...     Image.new("L", (4, 4)).save(d / c / "1.png")
        >>> Dataset.from_folder(d).manifest["sample_id"].to_list()
        ['cat/1.png', 'dog/1.png']
        """
        root = Path(root)
        manifest, found_classes, source = read_folder(root)
        check_required_columns(manifest, source)
        boxes = read_annotations_file(root)
        if classes is None:
            classes = found_classes
        if classes is None and boxes is not None and LABEL in boxes.columns:
            classes = sorted(str(x) for x in boxes[LABEL].drop_nulls().unique())
        if classes is None:
            if LABEL in manifest.columns:
                classes = sorted(str(x) for x in manifest[LABEL].drop_nulls().unique())
            if not classes:
                raise SchemaError(
                    f"{source}: no classes given and none can be inferred (no labels). Pass "
                    "classes=[...] or write classes.txt (one class per line) next to it."
                )
        if boxes is not None:
            source = f"{source} + {root / ANNOTATIONS_FILE}"
        ds = cls(manifest, classes, root, source=source, annotations=boxes)
        ds._check_images(check_images)
        return ds

    @classmethod
    @validate_call({"check_images": CHECK_IMAGES, "split": [Options(str, VALID_SPLITS)]})
    def from_coco(
        cls,
        root: str | Path,
        ann_json: str | Path,
        *,
        images_dir: str = ".",
        split: str = "train",
        check_images: CheckImages = "exists",
    ) -> Dataset:
        """A detection dataset from a COCO instances file (see :mod:`datacentric.dataset.coco`).

        Parameters
        ----------
        root : str or Path
            The dataset directory; image paths are ``images_dir/file_name`` under it.
        ann_json : str or Path
            The COCO JSON file (anywhere).
        images_dir : str
            The folder under ``root`` that COCO's ``file_name`` values are relative to.
        split : {"train", "val", "test"}
            The split of every image (COCO files hold one split each).
        check_images : {"exists", "none", "decode"}
            As in :meth:`from_folder`.

        Examples
        --------
        >>> import json, tempfile
        >>> from pathlib import Path
        >>> from PIL import Image
        >>> d = Path(tempfile.mkdtemp())
        >>> Image.new("L", (8, 6)).save(d / "a.png")
        >>> _ = (d / "ann.json").write_text(json.dumps({
        ...     "images": [{"id": 1, "file_name": "a.png", "width": 8, "height": 6}],
        ...     "annotations": [{"id": 9, "image_id": 1, "category_id": 3,
        ...                      "bbox": [1, 1, 2, 2]}],
        ...     "categories": [{"id": 3, "name": "cat"}]}))
        >>> ds = Dataset.from_coco(d, d / "ann.json")
        >>> ds.task, ds.annotations.height, ds.class_ids
        ('detection', 1, [3])
        """
        from datacentric.dataset.coco import read_coco

        data = read_coco(ann_json, images_dir=images_dir, split=split)
        ds = cls(
            data.manifest,
            data.classes,
            root,
            source=str(ann_json),
            annotations=data.annotations,
            task="detection",
            class_ids=data.class_ids,
            supercategories=data.supercategories,
        )
        ds._check_images(check_images)
        return ds

    @classmethod
    @validate_call({"check_images": CHECK_IMAGES})
    def from_yolo(
        cls,
        root: str | Path,
        classes: Sequence[str] | None = None,
        *,
        check_images: CheckImages = "exists",
    ) -> Dataset:
        """A detection dataset from a YOLO folder (see :mod:`datacentric.dataset.yolo`).

        ``root/images/...`` and ``root/labels/...``; classes from ``classes=``,
        ``root/data.yaml`` (``names``) or ``root/classes.txt``. Image sizes are read from
        the image headers (never decoded) to turn the normalised boxes into pixels.
        """
        from datacentric.dataset.yolo import read_yolo

        root = Path(root)
        data = read_yolo(root, classes)
        ds = cls(
            data.manifest,
            data.classes,
            root,
            source=f"YOLO {root}",
            annotations=data.annotations,
            task="detection",
        )
        ds._check_images(check_images)
        return ds

    def to_coco(self, path: str | Path, *, images_dir: str = ".") -> Path:
        """Write the boxes as a COCO instances file (atomically); returns the path.

        ``file_name`` is each image path relative to ``images_dir``. Round-trips exactly
        with :meth:`from_coco` (see :mod:`datacentric.dataset.coco` for what is kept).
        """
        from datacentric.dataset.coco import write_coco

        return write_coco(self, path, images_dir=images_dir)

    def to_yolo(self, directory: str | Path) -> Path:
        """Write a YOLO folder (images copied, one label file per image, classes.txt,
        data.yaml); returns it. Round-trips with :meth:`from_yolo` within 1e-6 pixel."""
        from datacentric.dataset.yolo import write_yolo

        return write_yolo(self, directory)

    @classmethod
    def from_arrays(
        cls,
        images: np.ndarray | Sequence[np.ndarray],
        labels: Sequence[str | int | None] | np.ndarray,
        classes: Sequence[str],
        *,
        metadata: pl.DataFrame | Mapping[str, Sequence[Any]] | None = None,
        sample_ids: Sequence[str] | None = None,
        split: str | Sequence[str] = "train",
    ) -> Dataset:
        """Build an in-memory dataset from image arrays.

        Parameters
        ----------
        images : array (N, H, W[, C]) or sequence of N arrays
            ``uint8`` pixels (floats in [0, 1] are scaled to 0-255).
        labels : sequence of N labels
            Class names, or integer indices into ``classes``; ``None`` for unlabeled.
        classes : sequence of str
            The ordered classes.
        metadata : polars.DataFrame or mapping, optional
            N rows of metadata (slice) columns.
        sample_ids : sequence of str, optional
            Defaults to ``"0" .. "N-1"``.
        split : str or sequence of str
            One split for all, or one per sample.

        Examples
        --------
        >>> import numpy as np
        >>> ds = Dataset.from_arrays(np.zeros((2, 4, 4)), [0, 1], classes=["a", "b"],
        ...                          metadata={"scanner": ["s1", "s2"]})
        >>> ds.manifest.select("label", "scanner").rows()
        [('a', 's1'), ('b', 's2')]
        """
        classes = check_classes(classes)
        n = len(images)
        if len(labels) != n:
            raise SchemaError(
                f"from_arrays: got {n} images but {len(labels)} labels; pass one label per "
                "image (None for unlabeled)."
            )
        label_list: list[str | None] = []
        bad_idx: list[int] = []
        for i, lab in enumerate(labels):
            if lab is None:
                label_list.append(None)
            elif isinstance(lab, (int, np.integer)) and not isinstance(lab, bool):
                if 0 <= int(lab) < len(classes):
                    label_list.append(classes[int(lab)])
                else:
                    bad_idx.append(i)
                    label_list.append(None)
            else:
                label_list.append(str(lab))
        if bad_idx:
            raise UnknownLabelError(
                f"from_arrays: {len(bad_idx)} integer label(s) are outside 0..{len(classes) - 1} "
                f"(rows {format_items(bad_idx)}, values "
                f"{format_items([labels[i] for i in bad_idx])}). Integer labels index classes="
                f"{classes!r}.",
                rows=bad_idx,
            )
        ids = [str(i) for i in range(n)] if sample_ids is None else [str(s) for s in sample_ids]
        if len(ids) != n:
            raise SchemaError(f"from_arrays: got {n} images but {len(ids)} sample_ids.")
        splits = [split] * n if isinstance(split, str) else list(split)
        if len(splits) != n:
            raise SchemaError(f"from_arrays: got {n} images but {len(splits)} split values.")
        frame = pl.DataFrame(
            {
                SAMPLE_ID: ids,
                IMAGE: [f"{ARRAY_PREFIX}{i}" for i in range(n)],
                LABEL: pl.Series(label_list, dtype=pl.Utf8),
                SPLIT: splits,
            }
        )
        if metadata is not None:
            meta = metadata if isinstance(metadata, pl.DataFrame) else pl.DataFrame(dict(metadata))
            if meta.height != n:
                raise SchemaError(
                    f"from_arrays: metadata has {meta.height} rows but there are {n} images."
                )
            clash = [c for c in meta.columns if c in RESERVED_COLUMNS and c != "annotator"]
            if clash:
                raise SchemaError(
                    f"from_arrays: metadata may not contain reserved column(s) {clash}; they are "
                    "set from the other arguments."
                )
            frame = pl.concat([frame, meta], how="horizontal")
        arrays = np.asarray(images) if isinstance(images, np.ndarray) else list(images)
        return cls(frame, classes, None, arrays=arrays, source="from_arrays")

    @classmethod
    @validate_call({"check_images": CHECK_IMAGES})
    def open(
        cls,
        root: str | Path,
        version: int | str | None = None,
        *,
        check_images: CheckImages = "exists",
    ) -> Dataset:
        """Open a committed version (HEAD by default; an int, ``"HEAD"`` or ``"HEAD~N"``).

        Examples
        --------
        >>> import tempfile
        >>> from datacentric.datasets import load_demo
        >>> d = tempfile.mkdtemp()
        >>> _ = load_demo(d)
        >>> Dataset.open(d, version=1).version
        1
        """
        store = VersionStore(root)
        manifest, _, info = store.read(version)
        source = f"version {info.version}"
        if info.task == "detection":
            boxes = store.read_annotations(info.version)
            ds = cls(
                manifest,
                info.classes,
                root,
                version=info.version,
                source=f"{source} ({store.version_dir(info.version) / 'annotations.parquet'})",
                annotations=boxes,
                task="detection",
                class_ids=info.class_ids,
                supercategories=info.supercategories,
            )
        else:
            ds = cls(manifest, info.classes, root, version=info.version, source=source)
        ds._check_images(check_images)
        return ds

    # ------------------------------------------------------------------ views
    @property
    def manifest(self) -> pl.DataFrame:
        """The manifest (a polars DataFrame; treat it as read-only, edit via methods)."""
        return self._manifest

    def to_polars(self) -> pl.DataFrame:
        """The manifest as a polars DataFrame."""
        return self._manifest

    @property
    def task(self) -> str:
        """``"classification"`` (one label per image) or ``"detection"`` (boxes)."""
        return self._task

    @property
    def annotations(self) -> pl.DataFrame | None:
        """The boxes of a detection dataset (read-only; edit via the box methods), else None.

        Examples
        --------
        >>> import numpy as np
        >>> Dataset.from_arrays(np.zeros((1, 2, 2)), [0], ["a"]).annotations is None
        True
        """
        return self._annotations

    def image_sizes(self) -> pl.DataFrame:
        """``sample_id, width, height, reason`` of every image, read from the image headers.

        Nothing is decoded (see :func:`~datacentric.dataset.annotations.image_sizes`).
        """
        arrays: Sequence[object] | None = None if self._arrays is None else list(self._arrays)
        return image_sizes(self.root, self._manifest, arrays)

    def box_problems(self, *, geometry: bool = True) -> pl.DataFrame:
        """Every bad box and why (see
        :func:`~datacentric.dataset.annotations.annotation_problems`).

        A loaded dataset has no load errors, so this lists the geometry problems: boxes
        reaching outside their image, the image size read from its header (``geometry``).
        Empty for a classification dataset.
        """
        if self._annotations is None:
            return annotation_problems(empty_annotations(), self.classes, [])
        sizes = self.image_sizes() if geometry else None
        return annotation_problems(
            self._annotations, self.classes, self._manifest[SAMPLE_ID], sizes
        )

    def __len__(self) -> int:
        return self._manifest.height

    def __repr__(self) -> str:
        where = f"root={str(self.root)!r}" if self.root is not None else "in memory"
        ver = f", version={self.version}" if self.version is not None else ""
        pend = f", {self.pending_changes.height} uncommitted changes" if self._pending else ""
        boxes = f", {self._annotations.height} boxes" if self._annotations is not None else ""
        return (
            f"Dataset({len(self)} samples{boxes}, {len(self.classes)} classes, {where}{ver}{pend})"
        )

    @property
    def sample_ids(self) -> list[str]:
        """All sample ids in manifest order."""
        return self._manifest[SAMPLE_ID].to_list()

    @property
    def metadata_columns(self) -> list[str]:
        """Manifest columns other than the reserved ones: the slice features."""
        return [c for c in self._manifest.columns if c not in RESERVED_COLUMNS]

    def label_indices(self) -> np.ndarray:
        """Labels as class indices (``int64``), ``-1`` where the label is null."""
        mapping = pl.DataFrame({LABEL: self.classes, "_idx": range(len(self.classes))})
        joined = self._manifest.select(LABEL).join(
            mapping, on=LABEL, how="left", maintain_order="left"
        )
        return joined["_idx"].fill_null(-1).to_numpy().astype(np.int64)

    def _subset(self, manifest: pl.DataFrame) -> Dataset:
        sub = Dataset.__new__(Dataset)
        sub.classes = list(self.classes)
        sub._manifest = manifest
        sub.root = self.root
        sub._arrays = self._arrays
        sub.version = self.version
        sub._pending = []
        sub._is_view = True
        sub._task = self._task
        sub.class_ids = self.class_ids
        sub.supercategories = self.supercategories
        sub._annotations = (
            None
            if self._annotations is None
            else self._annotations.filter(pl.col(SAMPLE_ID).is_in(manifest[SAMPLE_ID].implode()))
        )
        return sub

    def filter(self, *predicates: pl.Expr | str, **constraints: Any) -> Dataset:
        """A new dataset with the rows matching polars predicates (no lineage; a view).

        Examples
        --------
        >>> import numpy as np, polars as pl
        >>> ds = Dataset.from_arrays(np.zeros((3, 2, 2)), [0, 1, 0], ["a", "b"])
        >>> len(ds.filter(pl.col("label") == "a"))
        2
        """
        return self._subset(self._manifest.filter(*predicates, **constraints))

    def split(self, name: str) -> Dataset:
        """The samples of one split (``"train"``, ``"val"`` or ``"test"``)."""
        return self.filter(pl.col(SPLIT) == name)

    def summary(self) -> dict[str, Any]:
        """Counts for a quick look: samples, per split, per class, labeled, metadata columns."""
        m = self._manifest
        per_class = m.group_by(LABEL).len().sort(LABEL, nulls_last=True).rows()
        return {
            "root": str(self.root) if self.root else None,
            "version": self.version,
            "n_samples": m.height,
            "n_classes": len(self.classes),
            "classes": self.classes,
            "n_unlabeled": int(m[LABEL].null_count()),
            "per_split": dict(m.group_by(SPLIT).len().sort(SPLIT).rows()),
            "per_class": {("<unlabeled>" if k is None else k): v for k, v in per_class},
            "metadata_columns": self.metadata_columns,
            "uncommitted_changes": self.pending_changes.height,
            **(
                {}
                if self._annotations is None
                else {
                    "task": "detection",
                    "n_boxes": self._annotations.height,
                    "boxes_per_class": dict(
                        self._annotations.group_by(LABEL).len().sort(LABEL).rows()
                    ),
                }
            ),
        }

    # ------------------------------------------------------------------ images
    def _check_images(self, check: CheckImages) -> None:
        if self.root is None:
            return
        check_image_paths(
            self.root, self._manifest[SAMPLE_ID].to_list(), self._manifest[IMAGE].to_list(), check
        )

    def _image(
        self,
        path: str,
        mode: str | None,
        sample_id: str | None = None,
        resolver: PathResolver | None = None,
    ) -> np.ndarray:
        if path.startswith(ARRAY_PREFIX):
            if self._arrays is None:
                raise InvalidDatasetError(
                    f"image {path!r} refers to an in-memory array but this dataset has none; "
                    "in-memory datasets must be saved with ds.to_folder(DIR) before committing.",
                    rows=[path],
                )
            arr = np.asarray(self._arrays[int(path[len(ARRAY_PREFIX) :])])
            if arr.dtype != np.uint8:
                arr = np.clip(arr * 255.0 if arr.max(initial=0) <= 1.0 else arr, 0, 255).astype(
                    np.uint8
                )
            return _convert_mode(arr, mode)
        if self.root is None:  # pragma: no cover - constructor forbids
            raise InvalidDatasetError(f"image {path!r} is a file path but the dataset has no root.")
        return read_image(self.root, path, mode, sample_id=sample_id, resolver=resolver)

    @validate_call({"size": [ImageSize(), None], "mode": [Options(str, ("L", "RGB")), None]})
    def load_images(
        self,
        sample_ids: Sequence[str] | None = None,
        *,
        size: tuple[int, int] | None = None,
        mode: str | None = None,
    ) -> np.ndarray:
        """Decode images into one ``uint8`` batch of shape (N, H, W, C).

        Parameters
        ----------
        sample_ids : sequence of str, optional
            Which samples, in this order (default: all, in manifest order).
        size : (height, width), optional
            Resize every image to this size; needed when sizes differ. At most
            ``max_image_pixels`` pixels (a bigger size would cost more than the cap allows
            for every image, however small its file).
        mode : {"L", "RGB"}, optional
            Convert every image to grayscale or RGB; needed when modes differ.

        Examples
        --------
        >>> import numpy as np
        >>> ds = Dataset.from_arrays(np.zeros((2, 4, 4), np.uint8), [0, 0], ["a"])
        >>> ds.load_images().shape
        (2, 4, 4, 1)
        """
        ids = self.sample_ids if sample_ids is None else [str(s) for s in sample_ids]
        paths = self._paths_for(sample_ids)
        return self._decode_batch(ids, paths, size, mode)

    def _decode_batch(
        self,
        ids: Sequence[str],
        paths: Sequence[str],
        size: tuple[int, int] | None,
        mode: str | None,
    ) -> np.ndarray:
        """Decode the images ``paths`` (of samples ``ids``) into one (N, H, W, C) batch.

        Every file is read with :func:`read_image` (inside the root, links resolved, at most
        ``max_image_pixels`` pixels); one :class:`PathResolver` per batch.
        """
        from PIL import Image

        resolver = PathResolver(self.root) if self.root is not None else None
        out: list[np.ndarray] = []
        for sid, p in zip(ids, paths, strict=True):
            arr = self._image(p, mode, sid, resolver)
            if size is not None and arr.shape[:2] != tuple(size):
                im = Image.fromarray(arr).resize((size[1], size[0]), Image.Resampling.BILINEAR)
                arr = np.asarray(im)
            out.append(arr[:, :, None] if arr.ndim == 2 else arr)
        shapes = {a.shape for a in out}
        if len(shapes) > 1:
            raise InvalidDatasetError(
                f"images have different shapes {format_items(sorted(shapes))}; pass size=(H, W) "
                "and/or mode='RGB' to load_images to get one batch."
            )
        if not out:
            return np.zeros((0, 0, 0, 0), dtype=np.uint8)
        return np.stack(out)

    @validate_call(
        {
            "batch_size": [Interval(Integral, 1, None, closed="left")],
            "size": [ImageSize(), None],
            "mode": [Options(str, ("L", "RGB")), None],
            "sample_ids": [SequenceOf(str), None],
            "shuffle_seed": [Interval(Integral, 0, None, closed="left"), None],
        }
    )
    def iter_batches(
        self,
        batch_size: int = 256,
        *,
        size: tuple[int, int] | None = None,
        mode: str | None = None,
        sample_ids: Sequence[str] | None = None,
        shuffle_seed: int | None = None,
    ) -> Iterator[tuple[list[str], np.ndarray]]:
        """Yield ``(sample_ids, batch)``: images decoded batch by batch, never all at once.

        Memory holds one batch of ``batch_size`` decoded images, whatever the number of
        samples. Every image is read as :meth:`load_images` reads it (inside the dataset
        root, symbolic links resolved at the read, at most ``max_image_pixels`` pixels); a bad
        image raises when its batch is decoded, naming the file. Which samples and in what
        order is settled (and unknown ids raise) when this is called, before any decoding.

        Parameters
        ----------
        batch_size : int
            Images per batch (the last may have fewer).
        size : (height, width), optional
            Resize every image to this size (at most ``max_image_pixels`` pixels).
        mode : {"L", "RGB"}, optional
            Convert every image to grayscale or RGB.
        sample_ids : list or tuple of str, optional
            Which samples, in this order, repeats allowed (default: all, manifest order).
        shuffle_seed : int, optional
            Shuffle that order with ``numpy.random.default_rng(shuffle_seed).permutation``.

        Yields
        ------
        (list of str, numpy.ndarray)
            The batch's sample ids and its ``uint8`` images, shape (n, H, W, C).

        Examples
        --------
        >>> import numpy as np
        >>> ds = Dataset.from_arrays(np.zeros((5, 4, 4), np.uint8), [0] * 5, ["a"])
        >>> [(ids, b.shape) for ids, b in ds.iter_batches(2, sample_ids=["3", "1", "4"])]
        [(['3', '1'], (2, 4, 4, 1)), (['4'], (1, 4, 4, 1))]
        """
        ids = self.sample_ids if sample_ids is None else list(sample_ids)
        paths = self._paths_for(sample_ids)
        if shuffle_seed is not None:
            order = np.random.default_rng(shuffle_seed).permutation(len(ids))
            ids = [ids[i] for i in order]
            paths = [paths[i] for i in order]
        shape = None if size is None else (int(size[0]), int(size[1]))
        return self._batches(ids, paths, batch_size, shape, mode)

    def _batches(
        self,
        ids: list[str],
        paths: list[str],
        batch_size: int,
        size: tuple[int, int] | None,
        mode: str | None,
    ) -> Iterator[tuple[list[str], np.ndarray]]:
        for start in range(0, len(ids), batch_size):
            chunk = ids[start : start + batch_size]
            yield chunk, self._decode_batch(chunk, paths[start : start + batch_size], size, mode)

    @validate_call({"batch_size": [Interval(Integral, 1, None, closed="left")]})
    def iter_images(
        self, batch_size: int = 256, **kwargs: Any
    ) -> Iterator[tuple[list[str], np.ndarray]]:
        """Yield ``(sample_ids, batch)`` in manifest order: :meth:`iter_batches` with
        ``size`` and ``mode`` from ``kwargs``."""
        return self.iter_batches(batch_size, **kwargs)

    @validate_call(
        {"workers": [Interval(Integral, 1, None, closed="left"), None], "progress": ["boolean"]}
    )
    def unreadable_images(
        self, *, workers: int | None = None, progress: bool = False
    ) -> pl.DataFrame:
        """The samples whose image cannot be used, and why: one streaming pass over the files.

        Every file image is read as training would read it (inside the dataset root, at most
        ``max_image_pixels`` pixels, fully decoded) and dropped at once, so memory stays at
        one image per worker thread. In-memory arrays are always readable.

        Parameters
        ----------
        workers : int, optional
            Decoding threads (default ``min(8, cpus)``; 1 below 512 images).
        progress : bool
            Show a progress bar.

        Returns
        -------
        polars.DataFrame
            ``sample_id, image, reason`` in manifest order; ``reason`` starts with the kind:
            ``missing file``, ``outside the dataset``, ``too large``, ``truncated``,
            ``corrupt`` or ``unreadable``.

        Examples
        --------
        >>> import numpy as np
        >>> Dataset.from_arrays(np.zeros((2, 4, 4), np.uint8), [0, 0], ["a"]).unreadable_images()
        shape: (0, 3)
        ...
        """
        schema = {SAMPLE_ID: pl.Utf8, IMAGE: pl.Utf8, "reason": pl.Utf8}
        if self.root is None:
            return pl.DataFrame(schema=schema)
        ids, paths = self.sample_ids, self._manifest[IMAGE].to_list()
        with _count_bar(progress, len(ids), "checking images") as advance:
            bad = find_unreadable(self.root, ids, paths, workers=workers, progress=advance)
        return pl.DataFrame(bad, schema=schema, orient="row")

    def _paths_for(self, sample_ids: Sequence[str] | None) -> list[str]:
        if sample_ids is None:
            return self._manifest[IMAGE].to_list()
        want = pl.DataFrame({SAMPLE_ID: [str(s) for s in sample_ids]})
        joined = want.join(
            self._manifest.select(SAMPLE_ID, IMAGE), on=SAMPLE_ID, how="left", maintain_order="left"
        )
        missing = joined.filter(pl.col(IMAGE).is_null())[SAMPLE_ID].to_list()
        if missing:
            raise InvalidDatasetError(
                f"{len(missing)} unknown sample_id(s): {format_items(missing)}. Pass ids of "
                "this dataset (ds.sample_ids).",
                rows=missing,
            )
        return joined[IMAGE].to_list()

    def to_folder(self, root: str | Path, *, image_format: str = "png") -> Dataset:
        """Write every image under ``root/images/`` and the manifest to ``root/manifest.parquet``.

        Returns the folder-backed dataset. Use this to make an in-memory dataset versionable.
        """
        from PIL import Image

        root = Path(root)
        (root / "images").mkdir(parents=True, exist_ok=True)
        rel: list[str] = []
        used: set[str] = set()
        for row, (sid, p) in enumerate(
            zip(self.sample_ids, self._manifest[IMAGE].to_list(), strict=True)
        ):
            arr = self._image(p, None, sid)
            safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in sid)
            if safe.lower() in used:  # two ids that clean to one name keep distinct files
                safe = f"{safe}__{row}"
            used.add(safe.lower())
            name = f"images/{safe}.{image_format}"
            Image.fromarray(arr.squeeze(-1) if arr.ndim == 3 and arr.shape[2] == 1 else arr).save(
                root / name
            )
            rel.append(name)
        manifest = self._manifest.with_columns(pl.Series(IMAGE, rel, dtype=pl.Utf8))
        atomic_write(root / "manifest.parquet", manifest.write_parquet)
        atomic_write_text(root / "classes.txt", "\n".join(self.classes) + "\n")
        if self._annotations is not None:
            atomic_write(root / ANNOTATIONS_FILE, self._annotations.write_parquet)
        out = Dataset(
            manifest,
            self.classes,
            root,
            source=str(root / "manifest.parquet"),
            annotations=self._annotations,
            task=self._task,
            class_ids=self.class_ids,
            supercategories=self.supercategories,
        )
        out._pending = list(self._pending)  # uncommitted edits travel with the data
        return out

    # ------------------------------------------------------------------ versions
    def _store(self) -> VersionStore:
        if self.root is None:
            raise StoreError(
                "this dataset lives in memory and has no directory to version; save it with "
                "ds = ds.to_folder(DIR) and commit that."
            )
        return VersionStore(self.root)

    def commit(self, message: str, *, meta: Mapping[str, Any] | None = None) -> int:
        """Write the working copy as a new immutable version and move HEAD to it.

        Atomic and locked: see :class:`~datacentric.dataset.store.VersionStore`. Raises
        :class:`~datacentric.exceptions.CommitConflictError` if another process committed
        since this dataset was opened.

        Returns
        -------
        int
            The new version number.
        """
        check_params(
            "Dataset.commit",
            {"message": message},
            {"message": [NonEmptyString(strip=True)]},
            fix="Say what changed and why, e.g. ds.commit('relabel 12 typos found by scan').",
        )
        if self._is_view:
            raise StoreError(
                "commit: this dataset is a filtered view (from filter()/split()); committing it "
                "would drop the other samples without lineage. Edit and commit the full dataset, "
                "or remove() the unwanted samples with a reason."
            )
        if self._manifest[IMAGE].str.starts_with(ARRAY_PREFIX).any():
            raise StoreError("commit: in-memory images cannot be versioned; use ds.to_folder(DIR).")
        number = self._store().commit(
            self._manifest,
            self.pending_changes,
            classes=self.classes,
            message=message.strip(),
            base=self.version,
            extra=dict(meta or {}),
            annotations=self._annotations,
            class_ids=self.class_ids,
            supercategories=self.supercategories,
        )
        self.version = number
        self._pending = []
        return number

    def history(self) -> pl.DataFrame:
        """One row per version from HEAD back: version, parent, message, time, counts."""
        rows = [
            {
                "version": i.version,
                "parent": i.parent,
                "created_at": i.created_at,
                "message": i.message,
                "n_samples": i.n_samples,
                "n_changes": i.n_changes,
            }
            for i in self._store().history()
        ]
        schema = {
            "version": pl.Int64,
            "parent": pl.Int64,
            "created_at": pl.Utf8,
            "message": pl.Utf8,
            "n_samples": pl.Int64,
            "n_changes": pl.Int64,
        }
        return pl.DataFrame(rows, schema=schema)

    def changes(self, version: int | str | None = None) -> pl.DataFrame:
        """Lineage rows recorded by one committed version (HEAD by default)."""
        return self._store().read(version)[1]

    def lineage(self, sample_id: str) -> pl.DataFrame:
        """Every recorded change to one sample across all versions, oldest first."""
        store = self._store()
        parts = []
        for info in reversed(store.history()):
            ch = store.read(info.version, verify=False)[1].filter(pl.col(SAMPLE_ID) == sample_id)
            parts.append(ch.with_columns(pl.lit(info.version).alias("version")))
        return pl.concat(parts) if parts else empty_changes()

    def annotation_lineage(self, annotation_id: str) -> pl.DataFrame:
        """Every recorded change to one box across all versions, oldest first."""
        store = self._store()
        parts = []
        for info in reversed(store.history()):
            ch = store.read(info.version, verify=False)[1].filter(
                pl.col("annotation_id") == annotation_id
            )
            parts.append(ch.with_columns(pl.lit(info.version).alias("version")))
        return pl.concat(parts) if parts else empty_changes()

    def diff(self, v1: int | str, v2: int | str | None = None) -> pl.DataFrame:
        """Differences from version ``v1`` to ``v2`` (HEAD by default), by sample.

        See :func:`~datacentric.dataset.diff.diff_manifests` for the columns.
        """
        store = self._store()
        return diff_manifests(store.read(v1)[0], store.read(v2)[0])

    def diff_boxes(self, v1: int | str, v2: int | str | None = None) -> pl.DataFrame:
        """Differences of the boxes from version ``v1`` to ``v2`` (HEAD by default).

        ``annotation_id, change, field, old, new``: one row per added box, removed box and
        changed column of a kept box (see
        :func:`~datacentric.dataset.diff.diff_annotations`). A classification version
        counts as having no boxes.
        """
        store = self._store()
        empty = empty_annotations()
        old, new = store.read_annotations(v1), store.read_annotations(v2)
        return diff_annotations(empty if old is None else old, empty if new is None else new)


def _check_class_ids(
    class_ids: Sequence[int] | None, classes: list[str], source: str
) -> list[int] | None:
    """COCO category ids, one unique int per class, or None."""
    if class_ids is None:
        return None
    ids = list(class_ids)
    bad = [c for c in ids if isinstance(c, bool) or not isinstance(c, Integral)]
    if bad or len(ids) != len(classes) or len(set(ids)) != len(ids):
        raise SchemaError(
            f"{source}: class_ids must be {len(classes)} unique integers, one per class in "
            f"class order; received {format_items(ids)}."
        )
    return [int(c) for c in ids]


@contextmanager
def _count_bar(show: bool, total: int, title: str) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(k)``: a transient ``rich`` progress bar when ``show``, else a no-op."""
    if not show:
        yield lambda k: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(title, total=total)
        yield lambda k: bar.advance(task, k)


def _convert_mode(arr: np.ndarray, mode: str | None) -> np.ndarray:
    """Convert an in-memory (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) array to L or RGB."""
    if mode is None:
        return arr
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if mode == "RGB":
        if arr.ndim == 2:
            return np.repeat(arr[:, :, None], 3, axis=2)
        return arr[:, :, :3]
    if mode == "L":
        if arr.ndim == 2:
            return arr
        weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return np.clip(arr[:, :, :3].astype(np.float32) @ weights + 0.5, 0, 255).astype(np.uint8)
    raise invalid_parameter("Dataset.load_images", "mode", mode, "one of 'L', 'RGB' or None")
