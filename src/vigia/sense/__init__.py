"""Sensing: what the aircraft sees, simulated or read from imaging-spectrometer files."""
