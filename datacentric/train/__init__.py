"""Training: the `ModelRecipe` and `DetectorRecipe` protocols, default recipes, cross-validation.

Importing this package does not import torch; the recipes import it when they train or
predict.

Examples
--------
>>> from datacentric.train import SmallCNNRecipe, cross_val_predict
>>> SmallCNNRecipe().name
'small_cnn'
"""

from __future__ import annotations

from datacentric.train.box_calibration import ScoreCalibration, fit_score_calibration
from datacentric.train.centernet import CenterNetRecipe
from datacentric.train.crossval import clear_cv_cache, cross_val_predict
from datacentric.train.crossval_boxes import cross_val_predict_boxes
from datacentric.train.detector import BoxPredictions, DetectorRecipe
from datacentric.train.distill import SoftTargets, distill
from datacentric.train.load import load_recipe, make_recipe
from datacentric.train.recipe import ModelRecipe, Predictions
from datacentric.train.resnet import ResNet18Recipe
from datacentric.train.small_cnn import SmallCNNRecipe

__all__ = [
    "BoxPredictions",
    "CenterNetRecipe",
    "DetectorRecipe",
    "ModelRecipe",
    "Predictions",
    "ResNet18Recipe",
    "ScoreCalibration",
    "SmallCNNRecipe",
    "SoftTargets",
    "clear_cv_cache",
    "cross_val_predict",
    "cross_val_predict_boxes",
    "distill",
    "fit_score_calibration",
    "load_recipe",
    "make_recipe",
]
