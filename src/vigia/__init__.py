"""Vigía: aerial surveillance of clandestine drug-production sites.

Plans sorties for unarmed, long-endurance surveillance aircraft flown at a partner country's
invitation, and (in later stages) senses, detects, fuses, reviews and shares what they find.
Vigía watches places, not people.
"""

from vigia.errors import VigiaError

__all__ = ["VigiaError", "__version__"]

__version__ = "0.1.0"
