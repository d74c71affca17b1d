"""The embedded offline classifier: rules and fuzzy vocabularies, no model and no network."""

from core.classify.offline.classifier import OfflineClassifier

__all__ = ["OfflineClassifier"]
