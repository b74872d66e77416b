"""Training: the `ModelRecipe` protocol, the default CNN recipe, cross-validated predictions.

Importing this package does not import torch; the recipes import it when they train or
predict.

Examples
--------
>>> from datacentric.train import SmallCNNRecipe, cross_val_predict
>>> SmallCNNRecipe().name
'small_cnn'
"""

from __future__ import annotations

from datacentric.train.crossval import clear_cv_cache, cross_val_predict
from datacentric.train.load import load_recipe, make_recipe
from datacentric.train.recipe import ModelRecipe, Predictions
from datacentric.train.resnet import ResNet18Recipe
from datacentric.train.small_cnn import SmallCNNRecipe

__all__ = [
    "ModelRecipe",
    "Predictions",
    "ResNet18Recipe",
    "SmallCNNRecipe",
    "clear_cv_cache",
    "cross_val_predict",
    "load_recipe",
    "make_recipe",
]
