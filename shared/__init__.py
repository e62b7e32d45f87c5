"""Code shared by every Hadath service: message schemas, settings, topic names and helpers."""
