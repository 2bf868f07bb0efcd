"""Detectors: pure functions from radiance cubes to scored detections; they never read truth."""
