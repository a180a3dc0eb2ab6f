"""``owners.toml`` (design §8): who owns which component, which features come from it, and
who owns each monitoring layer.

```toml
[components.feature-pipeline]
owner = "data-eng"
pager = "pagerduty:data-eng-oncall"
features = ["amount", "avg_amount_30d"]

[components.serving-api]
owner = "sre"
layer = "infra"                        # optional: the layer this component belongs to

[layers]
infra = "platform-sre"                 # or {owner = "platform-sre", pager = "…"}
pipeline = "data-eng"
model = "ml-team"
business = "risk-analytics"
```

A component's optional ``layer`` (one of infra/pipeline/model/business; absent in older files,
which stay valid) says which monitoring layer it belongs to. Components with
``layer = "infra"`` are the serving/infra components whose change events an infrastructure
hypothesis ranks (design §7); ``layer = "business"`` marks policy/pricing owners whose events a
concept-drift hypothesis prefers. When no component declares ``layer = "infra"``, components are
recognised by name instead (``mlfail.rootcause.events.SERVING_NAME_TOKENS``).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlfail.errors import InputError

LAYERS = ("infra", "pipeline", "model", "business")


@dataclass(frozen=True)
class Component:
    name: str
    owner: str | None
    pager: str | None
    features: tuple[str, ...] = ()
    layer: str | None = None  # infra / pipeline / model / business, when the file says


@dataclass(frozen=True)
class LayerOwner:
    layer: str
    owner: str | None
    pager: str | None = None


@dataclass
class Owners:
    path: str
    components: dict[str, Component] = field(default_factory=dict)
    layers: dict[str, LayerOwner] = field(default_factory=dict)

    def component_for(self, feature: str) -> Component | None:
        """The first component (file order) whose lineage lists ``feature``."""
        for comp in self.components.values():
            if feature in comp.features:
                return comp
        return None

    def layer(self, layer: str) -> LayerOwner | None:
        return self.layers.get(layer)

    def components_in(self, layer: str) -> dict[str, Component]:
        """The components whose ``layer`` is ``layer`` (file order)."""
        return {n: c for n, c in self.components.items() if c.layer == layer}

    def owned_features(self) -> set[str]:
        return {f for c in self.components.values() for f in c.features}


def _fail(path: str, msg: str, line: int | None = None) -> InputError:
    where = f"{path}:{line}" if line else path
    return InputError(f"--owners {where}: {msg}")


def _str(v: Any, path: str, what: str) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str):
        raise _fail(path, f"{what} must be a string, not {type(v).__name__}")
    return v


def load_owners(path: str | Path) -> Owners:
    """Parse and validate ``owners.toml``; any problem is one :class:`InputError` line with the
    file and (for syntax errors) the line number."""
    p = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _fail(p, "no such file") from None
    except OSError as exc:
        raise _fail(p, f"cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise _fail(p, "not UTF-8 text; owners files are TOML") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = int(m.group(1)) if m else None
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise _fail(p, f"invalid TOML: {msg}", line) from None
    owners = Owners(path=p)
    comps = data.get("components", {})
    if not isinstance(comps, dict):
        raise _fail(p, "[components] must be a table of [components.NAME] tables")
    for name, body in comps.items():
        if not isinstance(body, dict):
            raise _fail(p, f"components.{name} must be a table")
        feats = body.get("features", [])
        if not isinstance(feats, list) or not all(isinstance(f, str) for f in feats):
            raise _fail(p, f"components.{name}.features must be a list of column names")
        comp_layer = _str(body.get("layer"), p, f"components.{name}.layer")
        if comp_layer is not None and comp_layer not in LAYERS:
            raise _fail(
                p, f"components.{name}.layer: unknown layer; use one of {', '.join(LAYERS)}"
            )
        owners.components[name] = Component(
            name=name,
            owner=_str(body.get("owner"), p, f"components.{name}.owner"),
            pager=_str(body.get("pager"), p, f"components.{name}.pager"),
            features=tuple(feats),
            layer=comp_layer,
        )
    layers = data.get("layers", {})
    if not isinstance(layers, dict):
        raise _fail(p, '[layers] must be a table: infra/pipeline/model/business = "owner"')
    for layer, v in layers.items():
        if layer not in LAYERS:
            raise _fail(p, f"layers.{layer}: unknown layer; use one of {', '.join(LAYERS)}")
        if isinstance(v, dict):
            owners.layers[layer] = LayerOwner(
                layer,
                _str(v.get("owner"), p, f"layers.{layer}.owner"),
                _str(v.get("pager"), p, f"layers.{layer}.pager"),
            )
        else:
            owners.layers[layer] = LayerOwner(layer, _str(v, p, f"layers.{layer}"))
    return owners
