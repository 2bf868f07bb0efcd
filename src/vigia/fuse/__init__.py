"""Fusion: detections from many passes, lines and sensors become sites with confidence."""
