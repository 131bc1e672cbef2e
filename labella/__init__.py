"""Labella: an active-learning labelling platform."""

__version__ = "0.2.0"
