"""Ground truth and scenarios: areas of interest, airspace, bases."""
