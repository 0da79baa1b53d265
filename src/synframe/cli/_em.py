"""The commands from EM synapses: ``demo``, ``fetch`` and ``synaptome``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import OptionError
from ._args import (
    _existing,
    _ids,
    _load_stats,
    _resolution,
    _seed,
    _source,
    _table_format,
    _writable,
    _write_table,
)


def _demo(args: argparse.Namespace) -> int:
    """Fetch, clean, attach, parameterize and write the embedded MICrONS example neuron as SONATA."""
    import synframe as sf

    from ..sonata._synaptome_files import check_replaceable

    check_replaceable(Path(args.output).expanduser().resolve(), True)  # before any work
    root = sf.datasets.EXAMPLE_ROOT_ID
    neuron = sf.datasets.example_neuron()
    print(f"synframe {sf.__version__} demo: MICrONS minnie65_public v795 neuron {root}")
    syn = sf.fetch(root, progress=False)  # the embedded store (DuckDB over parquet)
    print(
        f"  fetch        {len(syn):>6} synapses ({(syn.pre == root).sum()} outputs, "
        f"{(syn.post == root).sum()} inputs) from {syn.attrs['source']}"
    )
    syn = syn.syn.clean(neurons=neuron, max_distance=args.max_distance)
    removed = ", ".join(
        f"{k.replace('_', ' ')} {v}" for k, v in syn.attrs["history"][-1]["removed"].items()
    )
    print(
        f"  clean        {len(syn):>6} kept within {args.max_distance} of the skeleton ({removed})"
    )
    nl = syn.syn.attach(neuron)
    con = nl[0].connectors
    print(
        f"  attach       {len(con):>6} connectors on {neuron.n_nodes} skeleton nodes, "
        f"median distance {con['distance'].median():.0f} nm, connector_id = synapse id"
    )
    classes = sf.datasets.example_synapse_classes()
    stats = sf.datasets.example_pathway_stats()
    seed = _seed(args)
    syn = syn.syn.parameterize(stats, by="synapse_class", types=classes, seed=seed)
    summary = " ".join(sf.pathways.summary(stats).split())
    print(f"  parameterize {len(syn):>6} synapses, seed {seed}; {summary}")
    src = classes.reindex(syn.pre).to_numpy()
    table = syn.assign(src=src).groupby("src")["conductance"].agg(["size", "mean", "std"])
    for cls, row in table.iterrows():
        print(
            f"    from {cls:<18} {int(row['size']):>5} synapses, "
            f"conductance {row['mean']:.2f} ± {row['std']:.2f}"
        )
    syn = syn.syn.annotate(classes.rename_axis("root_id").reset_index(), columns="synapse_class")
    config = sf.write_synaptome(syn, args.output, neurons=neuron, overwrite=True)
    back = sf.read_edges(config)
    print(
        f"  SONATA       {len(back):>6} afferent synapses from {back.pre.nunique()} virtual "
        f"partners -> {config}"
    )
    return 0


def _fetch(args: argparse.Namespace) -> int:
    import synframe as sf

    ids = _ids(args.ids)
    _table_format(args.output)  # refuse an unknown format before fetching, not after
    reads = (
        [("--source", args.source)]
        if args.source and Path(args.source).expanduser().exists()
        else []
    )
    _writable(args.output, overwrite=args.overwrite, inputs=reads)
    if args.no_pre and args.no_post:
        raise OptionError("--no-pre and --no-post together leave nothing to fetch; drop one")
    syn = sf.fetch(
        ids, source=_source(args), pre=not args.no_pre, post=not args.no_post,
        filtered=not args.unfiltered, min_score=args.min_score, transmitters=args.transmitters,
        neuropils=args.neuropils, materialization=args.materialization,
        batch_size=args.batch_size, progress=False,
    )  # fmt: skip
    if len(syn) == 0 and not args.allow_empty:
        print(
            f"synframe fetch: error: no synapses found for {len(ids)} neuron id(s) in "
            f"{syn.attrs.get('source')}; nothing written (pass --allow-empty to write an empty "
            "table)",
            file=sys.stderr,
        )
        return 1
    _write_table(syn, args.output)
    print(f"{len(syn)} synapses -> {args.output}")
    return 0


def _synaptome_skeletons(args: argparse.Namespace, ids: list[int]):
    """The skeletons for ``synframe synaptome``: --skeleton files, or the embedded example's."""
    import navis

    import synframe as sf

    from ..units import neuron_scale_nm

    if not args.skeleton:
        if args.skeleton_units:
            raise OptionError("--skeleton-units needs --skeleton FILE.swc")
        if args.source is None and ids == [sf.datasets.EXAMPLE_ROOT_ID]:
            return navis.NeuronList([sf.datasets.example_neuron()])
        return None
    files = [Path(f) for f in args.skeleton]
    by_stem = {f.stem: f for f in files}
    if len(files) == 1 and len(ids) == 1 and files[0].stem != str(ids[0]):
        by_stem = {str(ids[0]): files[0]}
    missing = [i for i in ids if str(i) not in by_stem]
    extra = sorted(set(by_stem) - {str(i) for i in ids})
    if missing or extra:
        raise OptionError(
            f"--skeleton: name each file <neuron id>.swc (no skeleton for {missing}; files not "
            f"matching an id: {extra}); one file for one id may have any name"
        )
    out = []
    for i in ids:
        f = by_stem[str(i)]
        if not f.is_file():
            raise OptionError(f"--skeleton: {f} does not exist")
        try:
            n = navis.read_swc(str(f), read_meta=True)
        except Exception as exc:
            raise OptionError(f"--skeleton: cannot read {f} as SWC: {exc}") from None
        n.id = i
        if args.skeleton_units:
            try:
                n.units = args.skeleton_units
                neuron_scale_nm(n)
            except Exception:
                raise OptionError(
                    f"--skeleton-units {args.skeleton_units!r} is not a length unit; give e.g. "
                    "nm, um or '8 nm'"
                ) from None
        elif str(getattr(n, "units", None)) in ("None", "dimensionless", "1 dimensionless"):
            raise OptionError(
                f"--skeleton: {f} does not say its units; pass --skeleton-units (e.g. nm, um, '8 nm')"
            )
        out.append(n)
    return navis.NeuronList(out)


def _read_types(path: str):
    """``--types``: a CSV with the neuron id in its first column (read as text, never float)."""
    import pandas as pd

    _existing(path, "--types")
    try:
        types = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, OSError, pd.errors.ParserError) as exc:  # also UnicodeDecodeError
        raise OptionError(
            f"--types {path}: not a readable CSV ({type(exc).__name__}: {exc})"
        ) from None
    if types.shape[1] < 2:
        raise OptionError(
            f"--types {path}: needs a neuron id column and a type column, found {list(types.columns)}"
        )
    dup = sorted(set(types.columns[types.columns.duplicated()]))
    if dup:
        raise OptionError(f"--types {path}: repeated column names {dup}")
    return types


def _synaptome(args: argparse.Namespace) -> int:
    """Every input checked (ids, skeletons, types, stats, output) before fetching anything."""
    import synframe as sf

    from .._ids import as_ids
    from ..sonata._synaptome_files import check_replaceable
    from ..units import length_nm

    ids = _ids(args.ids)
    if args.max_distance.strip().lower() == "none":
        args.max_distance = None
    else:
        length_nm(args.max_distance, name="--max-distance")
    _resolution(args)
    output = Path(args.output).expanduser().resolve()
    if output.exists() and not args.overwrite:
        raise OptionError(f"--output {args.output} exists; pass --overwrite to replace it")
    check_replaceable(output, args.overwrite)
    skeletons = _synaptome_skeletons(args, ids)
    if args.types:
        types = _read_types(args.types)
        idc = types.columns[0]
        types[idc] = as_ids(types[idc], what=f"--types {args.types} column {idc!r}")
        if args.by not in types.columns:
            raise OptionError(
                f"--types {args.types} has no column {args.by!r} (--by); its columns: "
                f"{list(types.columns)}"
            )
        repeated = types[idc][types[idc].duplicated()].unique()[:5].tolist()
        if repeated:
            raise OptionError(f"--types {args.types}: neuron ids {repeated} appear more than once")
        types = types.set_index(idc)[args.by]
    elif args.source is None and args.by == "synapse_class":
        types = sf.datasets.example_synapse_classes()
    else:
        raise OptionError(f"pass --types CSV (first column: neuron id, and a {args.by!r} column)")
    stats = _load_stats(args.stats) if args.stats else None
    if stats is None:
        if args.by != "synapse_class":
            raise OptionError(
                "pass --stats stats.json (the example model types by synapse_class only)"
            )
        stats = sf.datasets.example_pathway_stats()
    seed = _seed(args)
    # a synaptome holds the neurons' afferent synapses only: their outputs are neither fetched
    # nor drawn (a model fitted from a synaptome has no pathways for them); keyed draws give the
    # inputs the same values either way
    syn = sf.fetch(ids, source=_source(args), pre=False, progress=False)
    syn = sf.clean(syn, neurons=skeletons, max_distance=args.max_distance, min_score=args.min_score)
    syn = sf.parameterize(syn, stats, by=args.by, types=types, seed=seed)
    syn = sf.annotate(
        syn, types.rename(args.by).rename_axis("root_id").reset_index(), columns=args.by
    )
    neurons = ids if skeletons is None else skeletons
    config = sf.write_synaptome(syn, args.output, neurons=neurons, overwrite=args.overwrite)
    print(config)
    return 0
