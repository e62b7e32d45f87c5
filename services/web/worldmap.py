"""The world outline of the search page's maps, drawn from a file shipped with the project.

``static/countries-110m.json`` is the ``world-atlas`` package's TopoJSON of Natural Earth's
1:110m countries (Natural Earth: public domain; world-atlas: ISC, ``static/world-atlas-LICENSE``).
It is decoded here into one SVG path in an equirectangular projection where ``x`` is the
longitude and ``y`` minus the latitude (the viewBox of the whole world is ``-180 -90 360 180``),
so markers are placed with no projection code in the browser and no tile server.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

WORLD_FILE = Path(__file__).resolve().parent / "static" / "countries-110m.json"
#: The whole world's box: ``(min_x, min_y, width, height)`` in degrees.
WORLD_BOX = (-180.0, -90.0, 360.0, 180.0)
#: The smallest box a map of a few places zooms to (degrees of longitude, latitude).
MIN_SPAN = (60.0, 30.0)


def _arcs(topology: dict[str, Any]) -> list[list[tuple[float, float]]]:
    """The topology's arcs as absolute ``(lon, lat)`` points (quantized, delta-encoded arcs
    decoded with its ``transform``; arcs without a transform are taken as they are)."""
    transform = topology.get("transform")
    out = []
    for arc in topology["arcs"]:
        if transform:
            (sx, sy), (tx, ty) = transform["scale"], transform["translate"]
            x = y = 0
            points = []
            for dx, dy in arc:
                x, y = x + dx, y + dy
                points.append((x * sx + tx, y * sy + ty))
        else:
            points = [(p[0], p[1]) for p in arc]
        out.append(points)
    return out


def _ring(arcs: list[list[tuple[float, float]]], indexes: Iterable[int]) -> list[tuple[float, float]]:
    """One ring from arc indexes (``~i``, i.e. ``-i - 1``, is arc ``i`` reversed)."""
    points: list[tuple[float, float]] = []
    for i in indexes:
        arc = arcs[i] if i >= 0 else arcs[~i][::-1]
        points.extend(arc[1:] if points else arc)
    return points


def _path(rings: Iterable[Sequence[tuple[float, float]]]) -> str:
    parts = []
    for ring in rings:
        if len(ring) < 3:
            continue
        coords = " ".join(f"{lon:.2f} {-lat:.2f}" for lon, lat in ring)
        parts.append(f"M{coords}Z")
    return "".join(parts)


def country_paths(topology: dict[str, Any], object_name: str = "countries") -> list[tuple[str, str]]:
    """``[(country name, SVG path data)]`` of a TopoJSON topology's ``object_name`` collection
    (Polygon and MultiPolygon geometries; others are skipped).

    Raises:
        KeyError: the topology has no such object.
    """
    arcs = _arcs(topology)
    out = []
    for geom in topology["objects"][object_name]["geometries"]:
        if geom.get("type") == "Polygon":
            polygons = [geom["arcs"]]
        elif geom.get("type") == "MultiPolygon":
            polygons = geom["arcs"]
        else:
            continue
        d = _path(_ring(arcs, ring) for polygon in polygons for ring in polygon)
        if d:
            out.append(((geom.get("properties") or {}).get("name", ""), d))
    return out


@lru_cache(maxsize=1)
def world_svg() -> str:
    """A standalone SVG document of the world's countries (viewBox :data:`WORLD_BOX`), read from
    :data:`WORLD_FILE` once per process."""
    topology = json.loads(WORLD_FILE.read_text(encoding="utf-8"))
    paths = "".join(f'<path d="{d}"><title>{_xml(name)}</title></path>' for name, d in country_paths(topology))
    x, y, w, h = WORLD_BOX
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{x:g} {y:g} {w:g} {h:g}" '
            f'preserveAspectRatio="none"><g fill="#dfe6df" stroke="#8a9a8a" stroke-width="0.15" '
            f'stroke-linejoin="round">{paths}</g></svg>')


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def view_box(points: Sequence[tuple[float, float]], *, pad: float = 0.25) -> tuple[float, float, float, float]:
    """The box ``(min_x, min_y, width, height)`` (map coordinates: ``x`` = lon, ``y`` = -lat)
    that shows every ``(lon, lat)`` of ``points`` with a margin of ``pad`` of its span on each
    side, at least :data:`MIN_SPAN` wide and high, with the world's 2:1 aspect ratio, and kept
    inside :data:`WORLD_BOX`. No points: the whole world."""
    if not points:
        return WORLD_BOX
    lons = [p[0] for p in points]
    lats = [-p[1] for p in points]
    cx, cy = (min(lons) + max(lons)) / 2, (min(lats) + max(lats)) / 2
    w = max((max(lons) - min(lons)) * (1 + 2 * pad), MIN_SPAN[0])
    h = max((max(lats) - min(lats)) * (1 + 2 * pad), MIN_SPAN[1])
    w, h = max(w, 2 * h), max(h, w / 2)  # same aspect ratio as the world box
    w, h = min(w, WORLD_BOX[2]), min(h, WORLD_BOX[3])
    x = min(max(cx - w / 2, WORLD_BOX[0]), WORLD_BOX[0] + WORLD_BOX[2] - w)
    y = min(max(cy - h / 2, WORLD_BOX[1]), WORLD_BOX[1] + WORLD_BOX[3] - h)
    return (x, y, w, h)
