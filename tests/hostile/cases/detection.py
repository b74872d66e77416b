"""Hostile COCO files and YOLO folders for ``datacentric init DIR --coco ann.json / --yolo``.

Each case is refused with one ``Error:`` line naming the file and the entry (or line), and
no version is written; the two well-formed fixtures initialise (exit 0).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from datacentric import Dataset
from tests.dataset._detection import coco_doc, write_coco, write_yolo
from tests.hostile.cases import CliCase

INIT_COCO = {"init": ("init", "{dataset}", "--coco", "{ann}", "--images-dir", "images")}
INIT_YOLO = {"init": ("init", "{dataset}", "--yolo")}
EVALUATE = {
    "slices_evaluate": (
        "slices", "evaluate", "{dataset}", "-p", "{preds}", "--split", "all", "--out",
        "{dataset}/m.json",
    )
}  # fmt: skip


def _predicted(write: Callable[[Any, Path], object]):  # type: ignore[no-untyped-def]
    """A committed detection dataset (the COCO fixture) and a predicted-boxes file that
    ``write(good_boxes, path)`` writes (the true boxes with score 0.9 are good ones)."""

    def build(tmp: Path) -> Mapping[str, str]:
        root = tmp / "data"
        ds = Dataset.from_coco(root, write_coco(root), images_dir="images")
        ds.commit("fixture")
        boxes = ds.annotations
        assert boxes is not None
        good = boxes.select("sample_id", "label", "x", "y", "w", "h").with_columns(
            score=pl.lit(0.9)
        )
        preds = tmp / "preds.parquet"
        write(good, preds)
        return {"dataset": str(root), "preds": str(preds)}

    return build


def _coco(edit: Callable[[dict[str, Any]], object] | None = None, raw: str | None = None):  # type: ignore[no-untyped-def]
    def build(tmp: Path) -> Mapping[str, str]:
        doc = copy.deepcopy(coco_doc())
        if edit is not None:
            edit(doc)
        ann = write_coco(tmp / "data", doc)
        if raw is not None:
            ann.write_text(raw)
        return {"dataset": str(tmp / "data"), "ann": str(ann)}

    return build


def _yolo(labels: dict[str, str] | None = None, names: str | None = None):  # type: ignore[no-untyped-def]
    def build(tmp: Path) -> Mapping[str, str]:
        root = write_yolo(tmp / "data", labels=labels, names=names)
        return {"dataset": str(root), "label_file": str(root / "labels/train/a.txt")}

    return build


def _committed_coco(tmp: Path) -> Mapping[str, str]:
    """A committed detection dataset (the COCO fixture) and a file that is not a model."""
    root = tmp / "data"
    Dataset.from_coco(root, write_coco(root), images_dir="images").commit("fixture")
    junk = tmp / "model.pt"
    junk.write_bytes(b"not a model")
    return {"dataset": str(root), "junk": str(junk)}


def _missing_json(tmp: Path) -> Mapping[str, str]:
    write_coco(tmp / "data")
    return {"dataset": str(tmp / "data"), "ann": str(tmp / "data" / "nope.json")}


CASES: list[CliCase] = [
    # `export` on a detection dataset: detector targets only, a CenterNetRecipe file only
    CliCase(
        name="export_detection_pruned_target",
        build=_committed_coco,
        argvs={"export": ("export", "{dataset}", "--out", "{out}/x", "--targets", "pruned-50")},
        match="parameter --targets must be a list or a comma-separated string of detector",
    ),
    CliCase(
        name="export_detection_weights_not_a_model",
        build=_committed_coco,
        argvs={"export": ("export", "{dataset}", "--out", "{out}/x", "--weights", "{junk}")},
        match="{junk}",
    ),
    CliCase(name="coco_ok", build=_coco(), argvs=INIT_COCO, default="ok"),
    CliCase(name="yolo_ok", build=_yolo(), argvs=INIT_YOLO, default="ok"),
    CliCase(
        name="coco_file_name_escapes",
        build=_coco(lambda d: d["images"][0].__setitem__("file_name", "../../x.png")),
        argvs=INIT_COCO,
        match="{ann}: images[0] (id 1): file_name '../../x.png' leads outside",
    ),
    CliCase(
        name="coco_nan",
        build=_coco(raw='{"images": [{"id": 1, "width": NaN}]}'),
        argvs=INIT_COCO,
        match="{ann}: the COCO annotations contain the non-finite number NaN",
    ),
    CliCase(
        name="coco_id_wrong_type",
        build=_coco(lambda d: d["annotations"][1].__setitem__("id", "11")),
        argvs=INIT_COCO,
        match="{ann}: annotations[1] (id '11'): id must be an integer",
    ),
    CliCase(
        name="coco_duplicate_image_id",
        build=_coco(lambda d: d["images"][2].__setitem__("id", 1)),
        argvs=INIT_COCO,
        match="image id 1 is used twice",
    ),
    CliCase(
        name="coco_negative_box",
        build=_coco(lambda d: d["annotations"][0].__setitem__("bbox", [0, 0, -1, 1])),
        argvs=INIT_COCO,
        match="{ann}: 1 annotation(s) with problem non_positive_size",
    ),
    CliCase(
        name="coco_not_json",
        build=_coco(raw="not json"),
        argvs=INIT_COCO,
        match="{ann}: the COCO annotations are not valid JSON",
    ),
    CliCase(name="coco_missing", build=_missing_json, argvs=INIT_COCO, match="{ann}"),
    CliCase(
        name="coco_and_yolo",
        build=_coco(),
        argvs={"init": ("init", "{dataset}", "--coco", "{ann}", "--yolo")},
        match="pass one of them",
    ),
    CliCase(
        name="coco_bad_split",
        build=_coco(),
        argvs={"init": ("init", "{dataset}", "--coco", "{ann}", "--split", "dev")},
        match="--split",
    ),
    CliCase(
        name="yolo_polygon_line",
        build=_yolo(labels={"train/a.txt": "0 0.1 0.1 0.2 0.1 0.3 0.3\n"}),
        argvs=INIT_YOLO,
        match="{label_file}:1: a box line is 'class cx cy w h' (5 values), received 7",
    ),
    CliCase(
        name="yolo_class_out_of_range",
        build=_yolo(labels={"train/a.txt": "0 0.5 0.5 0.1 0.1\n9 0.5 0.5 0.1 0.1\n"}),
        argvs=INIT_YOLO,
        match="{label_file}:2: class index 9 is outside 0..1",
    ),
    CliCase(
        name="yolo_nan",
        build=_yolo(labels={"train/a.txt": "0 nan 0.5 0.1 0.1\n"}),
        argvs=INIT_YOLO,
        match="{label_file}:1: cx cy w h must be finite numbers",
    ),
    CliCase(
        name="yolo_orphan_label",
        build=_yolo(labels={"train/zz.txt": "0 0.5 0.5 0.1 0.1\n"}),
        argvs=INIT_YOLO,
        match="have no image in images/",
    ),
    CliCase(
        name="yolo_bad_names",
        build=_yolo(names="names: 3\n"),
        argvs=INIT_YOLO,
        match="'names' must be a non-empty list",
    ),
    CliCase(
        name="det_preds_ok",
        build=_predicted(lambda good, p: good.write_parquet(p)),
        argvs=EVALUATE,
        default="ok",
    ),
    CliCase(
        name="det_preds_not_parquet",
        build=_predicted(lambda good, p: p.write_bytes(b"PAR1 not parquet")),
        argvs=EVALUATE,
        match="{preds}: cannot be read as Parquet",
    ),
    CliCase(
        name="det_preds_unknown_class",
        build=_predicted(lambda good, p: good.with_columns(label=pl.lit("bird")).write_parquet(p)),
        argvs=EVALUATE,
        match="{preds}: 4 annotation(s) with problem unknown_class",
    ),
    CliCase(
        name="det_preds_no_score",
        build=_predicted(lambda good, p: good.drop("score").write_parquet(p)),
        argvs=EVALUATE,
        match="{preds}: lacks the column(s) 'score'",
    ),
]


def _scan_boxes(rows: dict[str, list[Any]] | None, raw: bytes | None = None):  # type: ignore[no-untyped-def]
    """A COCO dataset (committed) and a predicted boxes file for ``scan --predicted-boxes``."""

    def build(tmp: Path) -> Mapping[str, str]:
        import polars as pl

        from datacentric import Dataset

        ann = write_coco(tmp / "data", coco_doc())
        Dataset.from_coco(tmp / "data", ann, images_dir="images").commit("coco")
        boxes = tmp / "pred.parquet"
        if raw is not None:
            boxes.write_bytes(raw)
        elif rows is not None:
            pl.DataFrame(rows).write_parquet(boxes)
        return {"dataset": str(tmp / "data"), "boxes": str(boxes)}

    return build


_GOOD_BOXES = {"sample_id": ["1", "2"], "label": ["dog", "cat"], "x": [1.0, 2.0],
               "y": [1.0, 2.0], "w": [5.0, 6.0], "h": [5.0, 6.0],
               "score": [0.99, 0.97]}  # fmt: skip
SCAN_BOXES = {
    "scan": ("scan", "{dataset}", "--predicted-boxes", "{boxes}", "--no-cv",
             "--out", "{out}/s.parquet",
             "--finders", "swapped_box,overlooked_box,badly_located_box"),
}  # fmt: skip

CASES += [
    CliCase(
        name="predicted_boxes_ok", build=_scan_boxes(_GOOD_BOXES), argvs=SCAN_BOXES, default="ok"
    ),
    CliCase(
        name="predicted_boxes_zero_width",
        build=_scan_boxes({**_GOOD_BOXES, "w": [5.0, 0.0]}),
        argvs=SCAN_BOXES,
        match="{boxes}: 1 annotation(s) with problem non_positive_size: '1 (row 1)",
    ),
    CliCase(
        name="predicted_boxes_unknown_image",
        build=_scan_boxes({**_GOOD_BOXES, "sample_id": ["1", "99"]}),
        argvs=SCAN_BOXES,
        match="unknown_sample: '1 (row 1): sample_id is not in the manifest'",
    ),
    CliCase(
        name="predicted_boxes_no_score",
        build=_scan_boxes({k: v for k, v in _GOOD_BOXES.items() if k != "score"}),
        argvs=SCAN_BOXES,
        match="{boxes}: lacks the column(s) 'score'",
    ),
    CliCase(
        name="predicted_boxes_not_parquet",
        build=_scan_boxes(None, raw=b"sample_id,label\n1,dog\n"),
        argvs=SCAN_BOXES,
        match="{boxes}: cannot be read as Parquet",
    ),
]


def _review_boxes(rows: dict[str, list[Any]] | None, raw: bytes | None = None):  # type: ignore[no-untyped-def]
    """``_scan_boxes`` plus a box scan (``scan.parquet``) to push to FiftyOne."""

    def build(tmp: Path) -> Mapping[str, str]:
        from datacentric.issues import scan

        out = dict(_scan_boxes(rows, raw)(tmp))
        result = scan(Dataset.open(out["dataset"]), finders=["duplicate_box"])
        result.save(Path(out["dataset"]) / "scan.parquet")
        return out

    return build


# predicted boxes for the FiftyOne push are checked before FiftyOne is contacted
REVIEW_BOXES = {
    "review_push_fiftyone": ("review", "push", "{dataset}", "--to", "fiftyone",
                             "--option", "predicted_boxes={boxes}"),
}  # fmt: skip

CASES += [
    CliCase(
        name="review_predicted_boxes_unknown_class",
        build=_review_boxes({**_GOOD_BOXES, "label": ["dog", "bird"]}),
        argvs=REVIEW_BOXES,
        match="{boxes}: 1 annotation(s) with problem unknown_class",
    ),
    CliCase(
        name="review_predicted_boxes_not_parquet",
        build=_review_boxes(None, raw=b"sample_id,label\n1,dog\n"),
        argvs=REVIEW_BOXES,
        match="{boxes}: cannot be read as Parquet",
    ),
]
