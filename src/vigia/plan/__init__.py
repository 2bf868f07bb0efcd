"""Sortie planning: coverage, routing, revisits and exports."""
