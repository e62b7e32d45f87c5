"""Offline Arabic named-entity recognizer: a feature-rich CRF trained on ANERcorp."""
