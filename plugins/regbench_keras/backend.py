"""TensorFlow and Keras, imported once with this plugin's settings: Keras on its
TensorFlow backend (the plugin's loops are TensorFlow's) and TensorFlow's start-up
chatter silenced. Every module of the plugin imports them from here."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

__all__ = ["keras", "tf"]
