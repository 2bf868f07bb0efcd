"""Sharing with partner authorities: releases, exchange formats and partner feedback.

Released sites are :class:`SiteReport` values under a TLP 2.0 :class:`Marking`;
``vigia.share.exports`` writes them as GeoJSON, KML, Cursor-on-Target, STIX 2.1 and CSV
(imported on demand: its libraries are slow to load).
"""

from vigia.share.report import TLPS, Marking, SiteReport

__all__ = ["TLPS", "Marking", "SiteReport"]
