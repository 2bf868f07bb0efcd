"""Scoring detections and sites against the simulator's ground truth (truth is read only here)."""
