"""Platform and sensor specifications, loaded from packaged YAML (``vigia/data/platforms.yaml``).

The default profile, ``mq9``, is an unarmed MQ-9-class aircraft carrying a VSWIR imaging
spectrometer (AVIRIS-NG class), an LWIR imaging spectrometer (HyTES class) and an EO mapping
camera. Sources are cited in the YAML next to each figure.
"""

from __future__ import annotations

import functools
import importlib.resources
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

import numpy as np
import yaml
from numpy.typing import NDArray

from vigia.errors import ConfigError, UnknownNameError

__all__ = [
    "STANDARD_GRAVITY",
    "Platform",
    "Sensor",
    "SensorKind",
    "list_platforms",
    "load_platform",
    "turn_radius",
]

STANDARD_GRAVITY = 9.80665
"""Standard acceleration of gravity, m s⁻² (CGPM 1901)."""

SensorKind = Literal["vswir", "lwir", "eo"]


def turn_radius(speed_m_s: float, bank_angle_deg: float) -> float:
    """Return the radius of a level coordinated turn, ``r = v² / (g tan φ)``.

    Parameters
    ----------
    speed_m_s : float
        True airspeed in m/s (no wind).
    bank_angle_deg : float
        Bank angle φ in degrees, in (0, 90).

    Returns
    -------
    float
        Turn radius in metres.

    Examples
    --------
    >>> round(turn_radius(102.8, 30.0))
    1866
    """
    if not 0.0 < bank_angle_deg < 90.0:
        raise ConfigError(f"bank angle must be in (0, 90) degrees, got {bank_angle_deg!r}")
    return speed_m_s**2 / (STANDARD_GRAVITY * math.tan(math.radians(bank_angle_deg)))


@dataclass(frozen=True)
class Sensor:
    """A line-scanning (pushbroom or framing) imaging sensor.

    Attributes
    ----------
    name : str
        Profile key (``"avirisng"``).
    kind : {"vswir", "lwir", "eo"}
        Spectral domain.
    ifov_mrad : float
        Instantaneous field of view of one pixel, milliradians.
    crosstrack_pixels : int
        Spatial samples across track.
    spectral_range_nm : tuple of float
        First and last band centre, nm.
    spectral_sampling_nm : float
        Band spacing, nm.
    fwhm_nm : float
        Spectral response full width at half maximum, nm.
    bands : int
        Number of spectral bands.
    frame_rate_hz : float
        Lines (or frames) per second.
    nedt_k : float or None
        Noise-equivalent delta temperature in K (thermal sensors).
    snr : float or None
        Signal-to-noise ratio at the reference radiance (reflective sensors).
    source : str
        Where the figures come from.
    """

    name: str
    kind: SensorKind
    ifov_mrad: float
    crosstrack_pixels: int
    spectral_range_nm: tuple[float, float]
    spectral_sampling_nm: float
    fwhm_nm: float
    bands: int
    frame_rate_hz: float
    nedt_k: float | None = None
    snr: float | None = None
    source: str = ""

    @property
    def fov_rad(self) -> float:
        """Full cross-track field of view, radians (``n · IFOV``)."""
        return self.crosstrack_pixels * self.ifov_mrad * 1e-3

    def swath_m(self, altitude_m: float) -> float:
        """Return the swath width on flat ground, ``2 h tan(n · IFOV / 2)``.

        Parameters
        ----------
        altitude_m : float
            Height above ground, metres.

        Returns
        -------
        float
            Swath width, metres.

        Examples
        --------
        >>> s = load_platform().sensor("avirisng")
        >>> round(s.swath_m(6000.0))
        3712
        """
        return 2.0 * altitude_m * math.tan(self.fov_rad / 2.0)

    def gsd_m(self, altitude_m: float) -> float:
        """Return the ground sample distance at nadir, ``h · IFOV``.

        Parameters
        ----------
        altitude_m : float
            Height above ground, metres.

        Returns
        -------
        float
            Ground sample distance, metres.

        Examples
        --------
        >>> round(load_platform().sensor("hytes").gsd_m(6000.0), 3)
        10.2
        """
        return altitude_m * self.ifov_mrad * 1e-3

    def wavelengths_nm(self) -> NDArray[np.float64]:
        """Return the ``(bands,)`` band centres in nm, evenly spaced over the spectral range."""
        lo, hi = self.spectral_range_nm
        return np.linspace(lo, hi, self.bands, dtype=np.float64)


@dataclass(frozen=True)
class Platform:
    """An aircraft profile and the sensors it carries.

    Attributes
    ----------
    name : str
        Profile key (``"mq9"``).
    title : str
        Human-readable description.
    cruise_speed_m_s : float
        True airspeed in cruise, m/s.
    endurance_clean_h : float
        Endurance without external stores, hours.
    endurance_loaded_h : float
        Endurance with the sensor pods fitted, hours (what planning uses).
    service_ceiling_m : float
        Service ceiling, metres.
    default_altitude_m : float
        Default imaging height above ground, metres.
    revisit_altitude_m : float
        Imaging height above ground of revisit sorties, metres: lower than the survey's for
        finer pixels over the few places a revisit looks at (the default altitude when the
        profile gives none).
    bank_angle_deg : float
        Bank angle used for planned turns, degrees.
    reserve_fraction : float
        Fraction of loaded endurance held in reserve, in [0, 1).
    sensors : tuple of Sensor
        Sensors carried.
    source : str
        Where the figures come from.
    """

    name: str
    title: str
    cruise_speed_m_s: float
    endurance_clean_h: float
    endurance_loaded_h: float
    service_ceiling_m: float
    default_altitude_m: float
    revisit_altitude_m: float
    bank_angle_deg: float
    reserve_fraction: float
    sensors: tuple[Sensor, ...]
    source: str = ""

    @property
    def turn_radius_m(self) -> float:
        """Turn radius at cruise speed and the planned bank, ``v² / (g tan φ)``, metres."""
        return turn_radius(self.cruise_speed_m_s, self.bank_angle_deg)

    @property
    def usable_endurance_s(self) -> float:
        """Loaded endurance less the reserve, seconds."""
        return self.endurance_loaded_h * 3600.0 * (1.0 - self.reserve_fraction)

    @property
    def sensor_names(self) -> list[str]:
        """Names of the sensors carried, in profile order."""
        return [s.name for s in self.sensors]

    def sensor(self, name: str) -> Sensor:
        """Return the sensor called ``name``.

        Raises
        ------
        UnknownNameError
            If the platform does not carry it (the message lists those it does).
        """
        for s in self.sensors:
            if s.name == name:
                return s
        known = ", ".join(self.sensor_names)
        raise UnknownNameError(f"platform {self.name!r} has no sensor {name!r}; sensors: {known}")

    def narrowest_swath(
        self, sensor_names: Iterable[str] | None, altitude_m: float
    ) -> tuple[float, str]:
        """Return the narrowest swath among some sensors, and which sensor gives it.

        Lines spaced by this swath image the ground with every listed sensor.

        Parameters
        ----------
        sensor_names : iterable of str or None
            Sensors flown; None (or empty) means all the platform carries.
        altitude_m : float
            Height above ground, metres.

        Returns
        -------
        tuple of (float, str)
            Swath width in metres and the sensor name.

        Examples
        --------
        >>> w, s = load_platform().narrowest_swath(["avirisng", "hytes"], 6000.0)
        >>> round(w), s
        (3712, 'avirisng')
        """
        names = list(sensor_names or []) or self.sensor_names
        sensors = [self.sensor(n) for n in names]
        best = min(sensors, key=lambda s: s.swath_m(altitude_m))
        return best.swath_m(altitude_m), best.name


def _load_yaml() -> dict[str, Any]:
    res = importlib.resources.files("vigia").joinpath("data", "platforms.yaml")
    data = yaml.safe_load(res.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "platforms" not in data or "sensors" not in data:
        raise ConfigError("platforms.yaml: needs 'platforms' and 'sensors' mappings")
    return data


def _num(d: Mapping[str, Any], key: str, where: str, *, positive: bool = True) -> float:
    if key not in d:
        raise ConfigError(f"platforms.yaml: {where}: missing {key!r}")
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ConfigError(f"platforms.yaml: {where}: {key} must be a number, got {v!r}")
    if positive and v <= 0:
        raise ConfigError(f"platforms.yaml: {where}: {key} must be positive, got {v!r}")
    return float(v)


def _sensor(name: str, d: Mapping[str, Any]) -> Sensor:
    where = f"sensors.{name}"
    kind = d.get("kind")
    if kind not in get_args(SensorKind):
        raise ConfigError(
            f"platforms.yaml: {where}: kind must be one of {get_args(SensorKind)}, got {kind!r}"
        )
    rng = d.get("spectral_range_nm")
    if not (isinstance(rng, list) and len(rng) == 2 and 0 < rng[0] < rng[1]):
        raise ConfigError(f"platforms.yaml: {where}: spectral_range_nm must be [low, high] nm")
    return Sensor(
        name=name,
        kind=cast(SensorKind, kind),
        ifov_mrad=_num(d, "ifov_mrad", where),
        crosstrack_pixels=int(_num(d, "crosstrack_pixels", where)),
        spectral_range_nm=(float(rng[0]), float(rng[1])),
        spectral_sampling_nm=_num(d, "spectral_sampling_nm", where),
        fwhm_nm=_num(d, "fwhm_nm", where),
        bands=int(_num(d, "bands", where)),
        frame_rate_hz=_num(d, "frame_rate_hz", where),
        nedt_k=_num(d, "nedt_k", where) if "nedt_k" in d else None,
        snr=_num(d, "snr", where) if "snr" in d else None,
        source=str(d.get("source", "")),
    )


def list_platforms() -> list[str]:
    """Return the names of the packaged platform profiles.

    Examples
    --------
    >>> list_platforms()
    ['mq9']
    """
    return sorted(_load_yaml()["platforms"])


@functools.cache
def load_platform(name: str = "mq9") -> Platform:
    """Load a packaged platform profile with its sensors.

    Parameters
    ----------
    name : str
        One of :func:`list_platforms`.

    Returns
    -------
    Platform

    Raises
    ------
    UnknownNameError
        If there is no such profile (the message lists the valid names).
    ConfigError
        If the profile is malformed.

    Examples
    --------
    >>> round(load_platform("mq9").turn_radius_m)
    1866
    """
    data = _load_yaml()
    platforms = data["platforms"]
    if name not in platforms:
        raise UnknownNameError(
            f"unknown platform {name!r}; valid names: {', '.join(sorted(platforms))}"
        )
    p = platforms[name]
    where = f"platforms.{name}"
    sensors = []
    for sname in p.get("sensors", []):
        if sname not in data["sensors"]:
            raise ConfigError(f"platforms.yaml: {where}: unknown sensor {sname!r}")
        sensors.append(_sensor(sname, data["sensors"][sname]))
    reserve = _num(p, "reserve_fraction", where, positive=False)
    if not 0.0 <= reserve < 1.0:
        raise ConfigError(f"platforms.yaml: {where}: reserve_fraction must be in [0, 1)")
    bank = _num(p, "bank_angle_deg", where)
    if bank >= 90.0:
        raise ConfigError(f"platforms.yaml: {where}: bank_angle_deg must be below 90")
    ceiling = _num(p, "service_ceiling_m", where)
    default = _num(p, "default_altitude_m", where)
    revisit = _num(p, "revisit_altitude_m", where) if "revisit_altitude_m" in p else default
    if revisit > ceiling:
        raise ConfigError(
            f"platforms.yaml: {where}: revisit_altitude_m {revisit:g} is above the service "
            f"ceiling {ceiling:g}"
        )
    return Platform(
        name=name,
        title=str(p.get("title", name)),
        cruise_speed_m_s=_num(p, "cruise_speed_m_s", where),
        endurance_clean_h=_num(p, "endurance_clean_h", where),
        endurance_loaded_h=_num(p, "endurance_loaded_h", where),
        service_ceiling_m=ceiling,
        default_altitude_m=default,
        revisit_altitude_m=revisit,
        bank_angle_deg=bank,
        reserve_fraction=reserve,
        sensors=tuple(sensors),
        source=str(p.get("source", "")),
    )
