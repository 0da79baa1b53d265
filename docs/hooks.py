"""mkdocs hooks: pages generated from the code, so that they cannot drift from it.

- ``<!-- synframe:cli -->``: every command of the command line with every flag, its help and its
  default, from ``synframe.cli.build_parser()``;
- ``<!-- synframe:accessors -->``: the ``.syn`` accessors' methods and the functions they alias,
  from ``synframe.accessors.ALIASES``;
- ``<!-- synframe:api -->``: the API reference, one mkdocstrings entry per public object (each
  rendered once, under its defining module's path, which cross-references use).
"""

from __future__ import annotations

import argparse
import html


def _cli() -> str:
    from synframe.cli import _subparser, build_parser

    parser = build_parser()
    out = [
        "```text",
        parser.format_usage().strip(),
        "```",
        "",
        parser.description or "",
        "",
        parser.epilog or "",
        "",
    ]
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name in commands.choices:
        sub = _subparser(parser, name)
        out += [f"## `synframe {name}`", "", sub.description or "", "", "```text"]
        out += [sub.format_usage().strip(), "```", ""]
        out += ["| argument | help | default |", "|---|---|---|"]
        for action in sub._actions:
            if action.dest in ("help",):
                continue
            flags = (
                ", ".join(f"`{s}`" for s in action.option_strings)
                or f"`{action.metavar or action.dest}`"
            )
            default = (
                "required"
                if action.required
                else ""
                if action.default in (None, argparse.SUPPRESS) or not action.option_strings
                else f"`{action.default}`"
            )
            text = html.escape((action.help or "").replace("|", "\\|"))
            out.append(f"| {flags} | {text} | {default} |")
        out.append("")
    return "\n".join(out)


def _accessors() -> str:
    from synframe.accessors import (
        ALIASES,
        DaskAccessor,
        NeuronListAccessor,
        PathwayStatsAccessor,
        SynapseAccessor,
    )

    owners = {
        SynapseAccessor: "`pandas.DataFrame.syn` (a synapse table, or for `fetch` a table of neurons)",
        NeuronListAccessor: "`navis.NeuronList.syn` (neurons and their `.connectors`)",
        PathwayStatsAccessor: "`xarray.DataArray.syn` (pathway statistics)",
        DaskAccessor: "`dask.dataframe.DataFrame.syn` (partitioned synapse tables)",
    }
    out = []
    for cls, methods in ALIASES.items():
        out += [f"### {owners[cls]}", "", "| accessor | is exactly |", "|---|---|"]
        for method, (path, data) in methods.items():
            module, func = path.split(":")
            import importlib

            obj = getattr(importlib.import_module(f"synframe.{module}"), func)
            target = f"{obj.__module__}.{obj.__qualname__}"
            public = (
                f"sf.{module}.{func}" if module in ("dask", "pathways", "plot") else f"sf.{func}"
            )
            out.append(f"| `.syn.{method}(...)` | [`{public}({data}, ...)`][{target}] |")
        out.append("")
    return "\n".join(out)


#: (heading, text, objects by defining path; a module renders its public members)
API = [
    (
        "Stage verbs",
        "The pipeline, each a plain function with a `.syn` alias (see [accessors](accessors.md)).",
        [
            "synframe.fetch.fetch",
            "synframe.clean.clean",
            "synframe.attach.attach",
            "synframe.attach.connectors_to_table",
            "synframe.annotate.annotate",
            "synframe.connectivity.connectivity",
            "synframe.parameterize.parameterize",
            "synframe.connectors.clean_connectors",
            "synframe.connectors.parameterize_connectors",
            "synframe._validation.validate",
            "synframe._validation.validate_connectors",
        ],
    ),
    (
        "Pathway statistics",
        "`sf.pathway_stats`, `sf.load_pathway_stats`, `sf.save_pathway_stats`, "
        "`sf.fit_pathway_stats` and the helpers `sf.pathways.*` (also `stats.syn.*`).",
        ["synframe.fit.fit_pathway_stats", "synframe.pathways"],
    ),
    ("Distributions and keyed sampling", "", ["synframe.distributions"]),
    (
        "SONATA",
        "",
        [
            "synframe.sonata.read.read_edges",
            "synframe.sonata.read.iter_edges",
            "synframe.sonata.circuit.parameterize_circuit",
            "synframe.sonata.synaptome.write_synaptome",
            "synframe.sonata.network.write_circuit",
        ],
    ),
    (
        "Sources",
        "Where `sf.fetch` reads synapses from (`sf.sources.*`).",
        [
            "synframe.sources.as_source",
            "synframe.sources.set_default_source",
            "synframe.sources.get_default_source",
            "synframe.sources._base.Source",
            "synframe.sources._base.Query",
            "synframe.sources.local.LocalStore",
            "synframe.sources.cave.CAVESource",
            "synframe.sources.sonata.SonataSource",
        ],
    ),
    ("dask", "", ["synframe.dask"]),
    ("Plots", "", ["synframe.plot"]),
    ("Reports and logging", "", ["synframe.reports", "synframe._logging.set_loglevel"]),
    ("Testing your own code", "", ["synframe.testing", "synframe.synthetic"]),
    ("Units", "", ["synframe.units"]),
]


def _api() -> str:
    out = []
    for heading, text, objects in API:
        out += [f"## {heading}", "", text, ""]
        for path in objects:
            is_module = path.rsplit(".", 1)[-1][:1].islower() and path.count(".") == 1
            out += [
                f"::: {path}",
                "    options:",
                f"      show_root_full_path: {'true' if is_module else 'false'}",
                "      heading_level: 3",
                "",
            ]
    return "\n".join(out)


def on_files(files, config):
    """Figures made from the code at build time (not kept in the repository)."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, "assets/home-synapses.png", content=_home_figure()))
    return files


def _home_figure() -> bytes:
    import io

    import synframe as sf

    neuron = sf.datasets.example_neuron()
    syn = sf.parameterize(
        sf.datasets.example_synapses(),
        sf.datasets.example_pathway_stats(),
        by="synapse_class",
        types=sf.datasets.example_synapse_classes(),
        seed=1,
    )
    fig = sf.plot.plot_synapses(neuron, syn, color_by="conductance", figsize=(6, 6))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def on_page_markdown(markdown: str, page, config, files) -> str:
    if "<!-- synframe:api -->" in markdown:
        markdown = markdown.replace("<!-- synframe:api -->", _api())
    if "<!-- synframe:cli -->" in markdown:
        markdown = markdown.replace("<!-- synframe:cli -->", _cli())
    if "<!-- synframe:accessors -->" in markdown:
        markdown = markdown.replace("<!-- synframe:accessors -->", _accessors())
    return markdown
