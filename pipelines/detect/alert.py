"""The alert record every detector produces and every page, report and CLI reads."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date

from pipelines.store.definitions import DIMENSION_LABELS

KINDS = {"spike": "急増", "shift": "持続的な増加", "return": "対策後の再発"}
# What an alert can be about: the dimensions whose daily series the detectors watch.
DIMENSIONS = {key: DIMENSION_LABELS[key] for key in ("theme", "cause", "product")}
GRANULARITIES = {"day": "日次", "week": "週次"}


@dataclass(frozen=True)
class Alert:
    kind: str                  # spike / shift / return (see KINDS)
    dimension: str             # theme / cause / product (see DIMENSIONS)
    key: str                   # theme_id, canonical cause or product name
    name: str                  # what rose, in Japanese (theme name, cause, product)
    granularity: str           # day / week (the series the detector ran on)
    since: date                # first day of the unusual stretch
    detected_on: date          # day the detector first fired
    observed: int              # cases in the flagged stretch
    expected: float            # cases the baseline expected in that stretch
    p_value: float | None = None
    q_value: float | None = None   # after false-discovery control across all series
    score: float = 0.0         # ordering within the alert budget (higher first)
    words: tuple[str, ...] = field(default_factory=tuple)   # terms that rose with it
    message: str = ""          # one Japanese sentence for the page and chat
    until: date | None = None  # last day the detector still fired for this stretch (None: only detected_on)

    def to_json(self) -> dict:
        """JSON-ready dict with ISO dates (one line of `python -m pipelines alerts --json`)."""
        record = asdict(self)
        record["since"], record["detected_on"] = self.since.isoformat(), self.detected_on.isoformat()
        record["until"] = self.until.isoformat() if self.until else None
        record["words"] = list(self.words)
        record["kind_label"], record["dimension_label"] = KINDS[self.kind], DIMENSIONS[self.dimension]
        return record
