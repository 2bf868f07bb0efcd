"""Vigía: aerial surveillance of clandestine drug-production sites.

Plans sorties for unarmed, long-endurance surveillance aircraft flown at a partner country's
invitation, and (in later stages) senses, detects, fuses, reviews and shares what they find.
Vigía watches places, not people.

The names below are the public API; everything else may change.
"""

from vigia.errors import (
    ConfigError,
    CoverageError,
    ExportError,
    FileFormatError,
    GeometryError,
    InputError,
    PlanningError,
    UnknownNameError,
    UnreachableError,
    VigiaError,
)
from vigia.geo import LocalFrame
from vigia.plan.export import write_exports
from vigia.plan.mission import ImagingLine, Mission, RestrictedZone, Revisit, Sortie, Waypoint
from vigia.plan.planner import FlightParams, flight_params, plan_areas, plan_mission
from vigia.plan.route import plan_sorties
from vigia.plan.summary import mission_summary
from vigia.platform import Platform, Sensor, load_platform
from vigia.world.airspace import restricted_airspace
from vigia.world.aoi import read_areas, read_zones
from vigia.world.scenario import Scenario, list_scenarios, load_scenario

__all__ = [
    "ConfigError",
    "CoverageError",
    "ExportError",
    "FileFormatError",
    "FlightParams",
    "GeometryError",
    "ImagingLine",
    "InputError",
    "LocalFrame",
    "Mission",
    "PlanningError",
    "Platform",
    "RestrictedZone",
    "Revisit",
    "Scenario",
    "Sensor",
    "Sortie",
    "UnknownNameError",
    "UnreachableError",
    "VigiaError",
    "Waypoint",
    "__version__",
    "flight_params",
    "list_scenarios",
    "load_platform",
    "load_scenario",
    "mission_summary",
    "plan_areas",
    "plan_mission",
    "plan_sorties",
    "read_areas",
    "read_zones",
    "restricted_airspace",
    "write_exports",
]

__version__ = "0.1.0"
