"""The hardware graph: every crossbar and every bank of peripheral circuits as a node, the nets between them as edges.

A node is a crossbar array or a bank of `count` identical circuits serving one tile's rows or columns, so the graph
grows with the number of tiles, never with the number of memristors.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

from amdcgan.fileio import write_text_atomic

from .mapping import LayerPlan, Tile, TilePlan, plan_tiles
from .spec import Architecture, ComponentKind

MEMRISTOR_KINDS = ("crossbar", "sign_crossbar", "load_memristor", "averager")
COMPONENT_KINDS = tuple(kind.value for kind in ComponentKind)
# The paper's count: "1.7 million memristive weights to update" (Table II caption).
PAPER_MEMRISTOR_WEIGHTS = 1_700_000


@dataclass(frozen=True)
class Counts:
    """Memristors and peripheral circuits of one scope (a layer, a network, or everything)."""

    memristors: dict[str, int]  # by where they sit: crossbar, sign_crossbar, load_memristor, averager
    components: dict[str, int]  # by ComponentKind value
    tiles: int
    weights: int
    cycles_per_image: int

    @property
    def total_memristors(self) -> int:
        return sum(self.memristors.values())

    def as_dict(self) -> dict:
        return {
            "tiles": self.tiles,
            "weights": self.weights,
            "memristors": {**self.memristors, "total": self.total_memristors},
            "components": dict(self.components),
            "cycles_per_image": self.cycles_per_image,
        }


def _tile_counts(tile: Tile) -> tuple[Counter, Counter]:
    memristors: Counter = Counter(crossbar=tile.crossbar_devices, sign_crossbar=tile.sign_devices)
    components: Counter = Counter()
    for bank in tile.banks:
        if bank.memristors:
            memristors[bank.kind] += bank.memristors
        if bank.kind in COMPONENT_KINDS:
            components[bank.kind] += bank.count
    return memristors, components


def _counts(layers: list[LayerPlan]) -> Counts:
    memristors: Counter = Counter({kind: 0 for kind in MEMRISTOR_KINDS})
    components: Counter = Counter({kind: 0 for kind in COMPONENT_KINDS})
    for layer in layers:
        for tile in layer.tiles:
            tile_memristors, tile_components = _tile_counts(tile)
            memristors.update(tile_memristors)
            components.update(tile_components)
    return Counts(
        memristors=dict(memristors),
        components=dict(components),
        tiles=sum(len(layer.tiles) for layer in layers),
        weights=sum(layer.weights for layer in layers),
        cycles_per_image=sum(layer.cycles_per_image for layer in layers),
    )


class HardwareGraph:
    """A networkx DiGraph of the accelerator, built from its tile plan, with counts per kind, layer and network."""

    def __init__(self, plan: TilePlan):
        self.plan = plan
        self.graph = nx.DiGraph(name=plan.architecture.name)
        for network in plan.networks:
            self._add_network(network.name, network.layers)
        self.graph.add_edge("generator.output", "discriminator.input", net="fake_images", width=0)

    @classmethod
    def from_architecture(cls, architecture: Architecture) -> "HardwareGraph":
        return cls(plan_tiles(architecture))

    # -- building -------------------------------------------------------------------------------------------------
    def _node(self, node_id: str, kind: str, network: str, layer: str, tile: int, rows: int, columns: int, **extra):
        self.graph.add_node(
            node_id, kind=kind, network=network, layer=layer, tile=tile, rows=rows, columns=columns, **extra
        )

    def _add_network(self, network: str, layers: tuple[LayerPlan, ...]) -> None:
        self._node(f"{network}.input", "port", network, "", -1, 0, 0)
        sources = [f"{network}.input"]
        for layer in layers:
            sources = self._add_layer(layer, sources)
        self._node(f"{network}.output", "port", network, "", -1, 0, 0)
        for source in sources:
            self.graph.add_edge(source, f"{network}.output", net=f"{network}_out", width=0)

    def _add_layer(self, layer: LayerPlan, sources: list[str]) -> list[str]:
        """Adds the layer's tiles; returns the nodes that drive the next layer.

        The layer's input is one bus node (the line buffer that forms its input windows), so the edges grow with
        the tiles of two neighbouring layers added, not multiplied."""
        bus = f"{layer.network}.{layer.name}.input_bus"
        self._node(bus, "bus", layer.network, layer.name, -1, layer.weight_rows, 0)
        for source in sources:
            self.graph.add_edge(source, bus, net=f"{layer.name}_bus", width=0)
        hosts: dict[int, str] = {}
        for tile in layer.tiles:
            last = self._add_tile(tile, [bus])
            if tile.row_tile == 0:
                hosts[tile.column_tile] = last
            else:  # a row-split tile's readout feeds the host's summing amplifier
                summing = f"{layer.network}.{layer.name}.{tile.column_tile}.summing_amplifier"
                self.graph.add_edge(last, summing, net=f"{tile.id}_partial", width=tile.n_columns)
        return [hosts[column_tile] for column_tile in sorted(hosts)]

    def _add_tile(self, tile: Tile, sources: list[str]) -> str:
        net, layer = tile.network, tile.layer
        crossbar = tile.id
        self._node(crossbar, "crossbar", net, layer, tile.index, tile.n_rows, tile.physical_columns,
                   devices=tile.crossbar_devices, row_start=tile.rows[0], row_stop=tile.rows[1],
                   column_start=tile.columns[0], column_stop=tile.columns[1])
        if tile.sign_crossbar:
            self._node(f"{crossbar}.sign", "sign_crossbar", net, layer, tile.index, tile.n_rows, tile.n_columns,
                       devices=tile.sign_devices)
        row_chain, column_chain = [], []
        for bank in tile.banks:
            node_id = f"{crossbar}.{bank.kind}" if bank.layer == layer else f"{crossbar}.{bank.layer}.{bank.kind}"
            rows, columns = (bank.count, 0) if bank.side == "row" else (0, bank.count)
            self._node(node_id, bank.kind, net, bank.layer, tile.index, rows, columns, count=bank.count,
                       devices=bank.memristors)
            (row_chain if bank.side == "row" else column_chain).append(node_id)
        # Row path: input bus -> crossbar switches [-> sign switches] -> crossbar; the sign crossbar drives the
        # thresholding circuits that steer the sign switches.
        switches = row_chain[0]
        for source in sources:
            self.graph.add_edge(source, switches, net=f"{layer}_in", width=tile.n_rows)
        if tile.sign_crossbar:
            thresholding, sign_switches = row_chain[1], row_chain[2]
            self.graph.add_edge(f"{crossbar}.sign", thresholding, net=f"{crossbar}_sign", width=tile.n_rows)
            self.graph.add_edge(thresholding, sign_switches, net=f"{crossbar}_sign_ctl", width=tile.n_rows)
            self.graph.add_edge(switches, sign_switches, net=f"{crossbar}_rows_sw", width=tile.n_rows)
            self.graph.add_edge(sign_switches, crossbar, net=f"{crossbar}_rows", width=tile.n_rows)
        else:
            self.graph.add_edge(switches, crossbar, net=f"{crossbar}_rows", width=tile.n_rows)
        previous = crossbar
        for index, node_id in enumerate(column_chain):
            width = tile.physical_columns if index == 0 else tile.n_columns
            self.graph.add_edge(previous, node_id, net=f"{node_id}_in", width=width)
            previous = node_id
        return previous

    # -- queries --------------------------------------------------------------------------------------------------
    def counts(self, network: str | None = None, layer: str | None = None) -> Counts:
        layers = [
            plan for plan in self.plan.layers()
            if (network is None or plan.network == network) and (layer is None or plan.name == layer)
        ]
        return _counts(layers)

    def nodes_of_kind(self, kind: str) -> list[str]:
        return [node for node, data in self.graph.nodes(data=True) if data["kind"] == kind]

    def summary(self) -> dict:
        """Counts per layer, per network and in total, with the paper's memristor count beside ours."""
        networks = {}
        for network in self.plan.networks:
            networks[network.name] = {
                "layers": {
                    layer.name: {
                        "type": layer.type,
                        "weight_matrix": [layer.weight_rows, layer.weight_columns],
                        "tile_grid": [len(layer.row_splits), len(layer.column_splits)],
                        "encoding": layer.encoding.value,
                        "readout": layer.readout.value,
                        "summing_gain": layer.summing_gain,
                        "folded_layers": list(layer.stages),
                        **self.counts(network.name, layer.name).as_dict(),
                    }
                    for layer in network.layers
                },
                "total": self.counts(network.name).as_dict(),
            }
        total = self.counts()
        return {
            "architecture": self.plan.architecture.name,
            "networks": networks,
            "total": total.as_dict(),
            "paper_comparison": memristor_comparison(self.plan, total),
        }

    # -- exports --------------------------------------------------------------------------------------------------
    def to_json(self) -> dict:
        return nx.node_link_data(self.graph, edges="edges")

    def write_json(self, path: str | Path) -> Path:
        return write_text_atomic(path, json.dumps(self.to_json(), indent=1) + "\n")

    def write_graphml(self, path: str | Path) -> Path:
        lines = nx.generate_graphml(self.graph)
        return write_text_atomic(path, "\n".join(lines) + "\n")


def memristor_comparison(plan: TilePlan, total: Counts) -> dict:
    """Our weight and device counts beside the paper's 1.7 million, with the reasons they differ."""
    by_encoding: dict[str, int] = defaultdict(int)
    for layer in plan.layers():
        by_encoding[layer.encoding.value] += layer.weights
    return {
        "paper_weights": PAPER_MEMRISTOR_WEIGHTS,
        "our_weights": total.weights,
        "our_crossbar_memristors": total.memristors["crossbar"],
        "our_all_memristors": total.total_memristors,
        "ratio_weights_to_paper": total.weights / PAPER_MEMRISTOR_WEIGHTS,
        "weights_by_encoding": dict(by_encoding),
        "why": (
            "The paper gives 1.7M weights for its MNIST DCGAN without listing its layer shapes. Ours count every "
            "weight and bias of the layers in the architecture file (rows x columns of each weight matrix). A sign "
            "crossbar adds one binary device per weight; a differential pair stores each weight in two devices; "
            "load and averaging memristors are periphery. The paper's figure fits neither count exactly, so its "
            "layers must differ from this reading of its text (e.g. a wider Generator input layer)."
        ),
    }


def build_graph(architecture: Architecture) -> HardwareGraph:
    return HardwareGraph.from_architecture(architecture)
