"""mkdocs hooks: pages generated from the code, so that they cannot drift from it.

- ``<!-- synframe:cli -->``: every command of the command line with every flag, its help and its
  default, from ``synframe.cli.build_parser()``;
- ``<!-- synframe:accessors -->``: the ``.syn`` accessors' methods and the functions they alias,
  from ``synframe.accessors.ALIASES``.
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
            flags = ", ".join(f"`{s}`" for s in action.option_strings) or f"`{action.metavar or action.dest}`"
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
            public = (
                f"synframe.{module}.{func}"
                if module in ("dask", "pathways", "plot")
                else f"synframe.{func}"
            )
            out.append(f"| `.syn.{method}(...)` | [`{public}({data}, ...)`][{public}] |")
        out.append("")
    return "\n".join(out)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if "<!-- synframe:cli -->" in markdown:
        markdown = markdown.replace("<!-- synframe:cli -->", _cli())
    if "<!-- synframe:accessors -->" in markdown:
        markdown = markdown.replace("<!-- synframe:accessors -->", _accessors())
    return markdown
