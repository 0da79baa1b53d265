"""hypothesis strategies and statistical assertions, so you can property-test your own code on them.

One module, though over 450 lines: it is a public namespace (``synframe.testing``) users import
from one place; the strategies and the assertions share the spec-support helpers that tie a drawn
value to the spec it came from.

Needs ``hypothesis`` (``pip install synframe[test]``). The seeded synthetic dump generator,
[`SyntheticDump`][synframe.synthetic.SyntheticDump], needs only numpy and is re-exported here.

- strategies: [`synapse_tables`][synframe.testing.synapse_tables], [`typed_synapse_tables`][synframe.testing.typed_synapse_tables], [`distribution_specs`][synframe.testing.distribution_specs],
  [`pathway_stats_dicts`][synframe.testing.pathway_stats_dicts], ...;
- assertions: [`assert_drawn_from`][synframe.testing.assert_drawn_from] (values against one spec: support, bounds, dtype, and a KS
  or chi-squared test whose tolerance follows from the sample size) and
  [`assert_parameterized`][synframe.testing.assert_parameterized] (every pathway x property of a parameterized table against its
  model, ``shared_within`` included).

Examples
--------
>>> from hypothesis import given
>>> import synframe as sf
>>> from synframe.testing import synapse_tables
>>> @given(synapse_tables(max_rows=20))
... def test_clean_is_idempotent(syn):
...     once = sf.clean(syn)
...     assert sf.clean(once).equals(once)
>>> test_clean_is_idempotent()
"""

from __future__ import annotations

import numpy as np
import pandas as pd

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - exercised only without the test extra
    raise ImportError(
        "synframe.testing needs hypothesis: pip install 'synframe[test]' (or pip install hypothesis)"
    ) from exc

from .errors import PathwayError, format_problems
from .schemas import POSITIONS, SynapseTable
from .synthetic import SyntheticDump

__all__ = [
    "SyntheticDump",
    "assert_drawn_from",
    "assert_parameterized",
    "distribution_specs",
    "invalid_distribution_specs",
    "neuron_ids",
    "pathway_stats_dicts",
    "synapse_tables",
    "typed_synapse_tables",
]

#: realistic 64-bit ids (FlyWire / MICrONS root ids are ~7.2e17 / ~8.6e17: beyond float64's 2**53)
_ID_BASE = 720575940600000000


def neuron_ids(*, pool: int = 8, background: bool = True) -> st.SearchStrategy[int]:
    """64-bit neuron ids drawn from a small pool (so partners repeat), optionally with 0 (background)."""
    ids = st.integers(min_value=0, max_value=pool - 1).map(lambda i: _ID_BASE + 7919 * i)
    return st.one_of(st.just(0), ids) if background else ids


@st.composite
def synapse_tables(
    draw,
    *,
    min_rows: int = 0,
    max_rows: int = 50,
    pool: int = 8,
    background: bool = True,
    autapses: bool = True,
    duplicates: bool = True,
    scores: bool = True,
    extent_nm: float = 50_000.0,
) -> pd.DataFrame:
    """Canonical synapse tables ([`SynapseTable`][synframe.schemas.SynapseTable]), positions in nm.

    With the defaults they contain what ``clean`` must remove: background partners (id 0),
    autapses, duplicated synapse ids (same id, possibly different rows) and a ``cleft_score``
    spread over 0–200.
    """
    n = draw(st.integers(min_value=min_rows, max_value=max_rows))
    partner = neuron_ids(pool=pool, background=background)
    pre = draw(st.lists(partner, min_size=n, max_size=n))
    post = draw(st.lists(partner, min_size=n, max_size=n))
    if not autapses:
        post = [q if q != p else p + 1 for p, q in zip(pre, post, strict=True)]
    if duplicates:
        ids = draw(st.lists(st.integers(1, max(1, 2 * n)), min_size=n, max_size=n))
    else:
        ids = draw(st.lists(st.integers(1, 2**40), min_size=n, max_size=n, unique=True))
    coord = st.floats(0, extent_nm, allow_nan=False, allow_infinity=False, width=32)
    xyz = draw(st.lists(st.tuples(*[coord] * 6), min_size=n, max_size=n))
    arr = np.asarray(xyz, dtype="float64").reshape(n, 6)
    df = pd.DataFrame(
        {
            SynapseTable.id: np.asarray(ids, dtype="int64"),
            SynapseTable.pre: np.asarray(pre, dtype="int64"),
            SynapseTable.post: np.asarray(post, dtype="int64"),
        }
    )
    for i, col in enumerate(POSITIONS):
        df[col] = arr[:, i]
    if scores:
        df[SynapseTable.cleft_score] = np.asarray(
            draw(st.lists(st.integers(0, 200), min_size=n, max_size=n)), dtype="int64"
        )
    df.attrs["units"] = "nm"
    return df


# --- distribution specs and pathway statistics -----------------------------------------------------

_finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
_positive = st.floats(0.01, 1e3, allow_nan=False, allow_infinity=False)
_nonneg = st.floats(0.0, 1e3, allow_nan=False, allow_infinity=False)


@st.composite
def distribution_specs(draw, *, types=None, bounds: bool = True) -> dict:
    """Valid ConnPropsModel distribution specs (every type, optional bounds / dtype / shared_within)."""
    from .distributions import DISTRIBUTIONS

    kind = draw(st.sampled_from(sorted(types or DISTRIBUTIONS)))
    spec: dict = {"type": kind}
    if kind == "constant":
        spec["mean"] = draw(_finite)
    elif kind in ("normal", "lognormal"):
        spec["mean"] = draw(_finite if kind == "normal" else st.floats(-3, 3))
        spec["std"] = draw(_nonneg if kind == "normal" else st.floats(0, 1))
    elif kind == "truncnorm":
        lo = draw(_finite)
        spec.update(
            norm_loc=draw(_finite), norm_scale=draw(_nonneg), min=lo, max=lo + draw(_nonneg)
        )
    elif kind == "gamma":
        spec.update(mean=draw(_positive), std=draw(_nonneg))
    elif kind == "poisson":
        spec["mean"] = draw(st.floats(0, 50))
    elif kind == "ztpoisson":
        spec["mean"] = draw(st.floats(1, 50))
    elif kind == "discrete":
        k = draw(st.integers(1, 6))
        val = draw(st.lists(st.integers(-10, 10), min_size=k, max_size=k))
        w = np.asarray(draw(st.lists(st.floats(0.01, 1), min_size=k, max_size=k)))
        spec.update(val=val, p=(w / w.sum()).tolist())
    elif kind == "uniform":
        lo = draw(_finite)
        spec.update(min=lo, max=lo + draw(_nonneg))
    elif kind == "exponential":
        spec["mean"] = draw(_positive)
    if bounds and draw(st.booleans()):
        lo = draw(_finite)
        spec["lower_bound"] = lo
        if draw(st.booleans()):
            spec["upper_bound"] = lo + draw(_nonneg)
    if draw(st.booleans()):
        spec["dtype"] = draw(st.sampled_from(["int", "float"]))
    if draw(st.booleans()):
        spec["shared_within"] = draw(st.sampled_from([True, False, 1.0, 0.0]))
    return spec


@st.composite
def invalid_distribution_specs(draw) -> dict:
    """Specs that ``synframe`` must refuse: unknown types, missing or out-of-range parameters."""
    broken = draw(
        st.sampled_from(
            [
                {"type": "gaussian", "mean": 1.0, "std": 1.0},
                {"type": "gamma", "mean": 1.0},
                {"type": "gamma", "mean": -1.0, "std": 0.5},
                {"type": "gamma", "mean": 1.0, "std": -0.5},
                {"type": "truncnorm", "norm_loc": 0.0, "norm_scale": 1.0, "min": 2.0, "max": 1.0},
                {"type": "discrete", "val": [1, 2], "p": [0.5, 0.6]},
                {"type": "discrete", "val": [1, 2, 3], "p": [0.5, 0.5]},
                {"type": "ztpoisson", "mean": 0.5},
                {"type": "poisson", "mean": -1.0},
                {"type": "normal", "mean": float("nan"), "std": 1.0},
                {"type": "uniform", "min": 3.0, "max": 1.0},
                {"type": "constant", "mean": 1.0, "lower_bound": 2.0, "upper_bound": 1.0},
                {"type": "constant", "mean": 1.0, "shared_within": "yes"},
                {"type": "constant", "mean": 1.0, "dtype": "integer-ish"},
                {"type": "exponential", "mean": 0.0},
                {"mean": 1.0},
            ]
        )
    )
    return dict(broken)


@st.composite
def pathway_stats_dicts(
    draw, *, src_types=("EXC", "INH"), tgt_types=("EXC", "INH"), properties=("g", "u")
) -> dict:
    """ConnPropsModel dicts ``{src_types, tgt_types, prop_stats}`` with valid specs in every cell."""
    return {
        "src_types": list(src_types),
        "tgt_types": list(tgt_types),
        "prop_stats": {
            p: {s: {t: draw(distribution_specs()) for t in tgt_types} for s in src_types}
            for p in properties
        },
    }


@st.composite
def typed_synapse_tables(
    draw, *, by: str = "synapse_class", classes=("EXC", "INH"), **kw
) -> pd.DataFrame:
    """Synapse tables (no autapses, no background, unique ids) with ``pre_<by>`` / ``post_<by>``."""
    df = draw(synapse_tables(background=False, autapses=False, duplicates=False, **kw))
    ids = np.union1d(df["pre"].to_numpy(), df["post"].to_numpy())
    cls = draw(st.lists(st.sampled_from(list(classes)), min_size=len(ids), max_size=len(ids)))
    table = pd.Series(cls, index=ids, dtype=object)
    df[f"pre_{by}"] = table.reindex(df["pre"].to_numpy()).to_numpy()
    df[f"post_{by}"] = table.reindex(df["post"].to_numpy()).to_numpy()
    return df


# --- assertions: values against their model ---------------------------------------------------------


def _finished_cdf(spec, expected: np.dtype, n_syn_per_conn: bool):
    """y -> P(Y <= y) (``left``: P(Y < y)) of the finished values, in their own float precision.

    A float value stands for every draw that rounds to it: P(Y <= y) is taken up to the next
    representable value (this matters where draws underflow to 0, e.g. gamma with shape << 1).
    """
    from .distributions import cdf

    def f(y, left=False):
        y = np.asarray(y, dtype="float64")
        if expected.kind == "f":
            yy = y.astype(expected)
            near = np.nextafter(yy, np.asarray(-np.inf if left else np.inf, dtype=expected))
            if expected.itemsize < 8:  # Y = float32(W): rounding boundaries halfway
                return cdf(
                    spec, (y + near.astype("float64")) / 2, left=True, n_syn_per_conn=n_syn_per_conn
                )
            # float64: up to the next value (P(Y <= y)), or up to the previous one (P(Y < y))
            return cdf(spec, near, left=not left, n_syn_per_conn=n_syn_per_conn)
        return cdf(spec, y, left=left, n_syn_per_conn=n_syn_per_conn)

    return f


def _support(spec, n_syn_per_conn: bool) -> tuple[float, float]:
    """The smallest and largest value the finished spec can take (±inf when unbounded)."""
    from .distributions import _point_mass

    g = spec.get
    kind = spec["type"]
    point = _point_mass(spec)
    if point is not None:
        lo = hi = point
    elif kind in ("truncnorm", "uniform"):
        lo, hi = g("min"), g("max")
    elif kind in ("gamma", "lognormal", "exponential", "poisson"):
        lo, hi = 0.0, np.inf
    elif kind == "ztpoisson":
        lo, hi = 1.0, np.inf
    elif kind == "discrete":
        val = np.asarray(g("val"), dtype="float64")[np.asarray(g("p"), dtype="float64") > 0]
        lo, hi = float(val.min()), float(val.max())
    else:  # normal
        lo, hi = -np.inf, np.inf
    out = []
    for b in (lo, hi):
        if n_syn_per_conn:
            b = max(np.round(b), 1.0) if np.isfinite(b) else (1.0 if b < 0 else b)
        if g("lower_bound") is not None:
            b = max(b, g("lower_bound"))
        if g("upper_bound") is not None:
            b = min(b, g("upper_bound"))
        dt = g("dtype")
        if dt is not None and np.dtype(dt).kind in "iu" and np.isfinite(b):
            b = float(np.round(b)) if dt == "int" else float(np.trunc(b))
        out.append(float(b))
    return out[0], out[1]


def assert_drawn_from(
    values,
    spec,
    *,
    alpha: float = 1e-6,
    n_syn_per_conn: bool = False,
    check_dtype: bool = True,
) -> None:
    """Assert that ``values`` are independent draws of ``spec`` as synframe (and CM) sample it.

    Checks, in order, each failure named in the ``AssertionError``:

    - the dtype is the spec's ([`synframe.distributions.output_dtype`][synframe.distributions.output_dtype]: CM's), unless
      ``check_dtype=False`` (then integer outputs must still be integral);
    - every value is finite, within ``lower_bound`` / ``upper_bound`` and the distribution's
      support, and (discrete outputs) a value the spec can give; a constant must be exact;
    - the frequencies: a Kolmogorov-Smirnov test against the exact CDF of the finished values
      (point masses at the bounds included; conservative with them) for continuous outputs, a
      chi-squared test on bins cut at the spec's quantiles (at least 5 expected per bin) for
      discrete ones (integer types, ``dtype: "int"``, ``n_syn_per_conn``). The test fails below
      p = ``alpha``: the tolerance shrinks as 1/sqrt(len(values)), no fixed tolerance to tune.
      Deterministic: no randomness in the test itself.

    ``n_syn_per_conn=True``: the values are synapses per connection (rounded, at least 1).

    Examples
    --------
    >>> import numpy as np
    >>> from synframe.distributions import keyed_uniforms, sample
    >>> from synframe.testing import assert_drawn_from
    >>> spec = {"type": "gamma", "mean": 1.0, "std": 0.5, "upper_bound": 2.0}
    >>> x = sample(spec, keyed_uniforms(0, "g", np.arange(10_000)))
    >>> assert_drawn_from(x, spec)
    >>> assert_drawn_from(x * 1.05, spec)
    Traceback (most recent call last):
    AssertionError: ...
    """
    from scipy import stats as st

    from .distributions import is_discrete, output_dtype, sample, validate_spec

    validate_spec(spec)
    shown = dict(spec)
    if spec["type"] == "discrete":  # the same distribution with sorted values: monotone quantiles
        order = np.argsort(np.asarray(spec["val"], dtype="float64"), kind="stable")
        spec = {**spec, "val": [spec["val"][i] for i in order], "p": [spec["p"][i] for i in order]}
    if not (isinstance(alpha, float | int) and 0 < alpha < 1):
        raise PathwayError(f"alpha must be in (0, 1), got {alpha!r}")
    x = np.asarray(values)
    if x.ndim != 1 or len(x) == 0:
        raise PathwayError(f"values must be a non-empty 1-d array, got shape {x.shape}")
    expected = np.dtype(output_dtype(spec, n_syn_per_conn=n_syn_per_conn))
    head = f"{len(x)} values are not drawn from {shown}"
    if x.dtype.kind not in "iuf":
        raise AssertionError(f"{head}: dtype {x.dtype} is not numeric")
    problems = []
    if check_dtype and x.dtype != expected:
        problems.append(f"dtype {x.dtype}, the spec gives {expected}")
    xf = x.astype("float64")
    if not np.isfinite(xf).all():
        problems.append(f"{int((~np.isfinite(xf)).sum())} values are NaN or infinite")
        raise AssertionError(format_problems(head, problems))
    if expected.kind in "iu" and not np.array_equal(xf, np.round(xf)):
        problems.append("values are not integers, the spec gives integers")
    if expected.kind == "f":  # integer casts may round past a bound (CM clips, then casts)
        for key, sign in (("lower_bound", 1), ("upper_bound", -1)):
            b = spec.get(key)
            if b is None:
                continue
            b = float(np.asarray(b, dtype="float64").astype(expected))  # the bound as stored
            beyond = sign * (xf - b) < 0
            if beyond.any():
                problems.append(
                    f"{int(beyond.sum())} values beyond {key} {b} (e.g. {xf[beyond][0]})"
                )
    f = _finished_cdf(spec, expected, n_syn_per_conn)
    s_lo, s_hi = _support(spec, n_syn_per_conn)
    tol = (
        0.0
        if expected.kind != "f" or expected.itemsize == 8
        else 1e-6 * max(1, abs(s_hi), abs(s_lo))
    )
    out = (xf < s_lo - tol) | (xf > s_hi + tol)
    if out.any():
        problems.append(
            f"{int(out.sum())} values outside the support [{s_lo}, {s_hi}] (e.g. {xf[out][0]})"
        )
    # the extreme values the sampler can give (its uniforms lie in [2**-54, 1 - 2**-53]): equal
    # for constants, and for spreads below float resolution: then every value must be that one
    extremes = sample(spec, np.array([2.0**-54, 1 - 2.0**-53]), n_syn_per_conn=n_syn_per_conn)
    if extremes[0] == extremes[-1] and not problems:
        wrong = xf != float(extremes[0])
        if wrong.any():
            problems.append(
                f"{int(wrong.sum())} values differ from the spec's only value {extremes[0]}"
            )
            raise AssertionError(format_problems(head, problems))
        return
    discrete = is_discrete(spec, n_syn_per_conn=n_syn_per_conn)
    uniq, counts = np.unique(xf, return_counts=True)
    if discrete and not problems:
        mass = f(uniq) - f(uniq, left=True)
        impossible = uniq[mass <= 0]
        if len(impossible):
            problems.append(f"values the spec cannot give: {impossible[:5].tolist()}")
    if problems:
        raise AssertionError(format_problems(head, problems))
    n = len(xf)
    if discrete:
        k = int(min(max(n // 5, 1), 50))
        cuts = np.unique(
            sample(spec, np.arange(1, k) / k, n_syn_per_conn=n_syn_per_conn).astype("float64")
        )
        probs = np.diff(np.r_[0.0, f(cuts), 1.0])
        obs = np.bincount(np.searchsorted(cuts, xf, side="left"), minlength=len(cuts) + 1)
        o_m, e_m = [], []  # merge neighbouring bins until each expects >= 5
        acc_o, acc_e = 0, 0.0
        for o, e in zip(obs, probs * n, strict=True):
            acc_o, acc_e = acc_o + o, acc_e + e
            if acc_e >= 5:
                o_m.append(acc_o)
                e_m.append(acc_e)
                acc_o, acc_e = 0, 0.0
        if o_m:
            o_m[-1] += acc_o
            e_m[-1] += acc_e
        if len(o_m) < 2:
            return
        o_m, e_m = np.asarray(o_m, dtype="float64"), np.asarray(e_m)
        chi2 = float(((o_m - e_m) ** 2 / e_m).sum())
        p = float(st.chi2.sf(chi2, len(o_m) - 1))
        what = f"chi-squared {chi2:.4g} on {len(o_m)} bins"
    else:
        cum = np.cumsum(counts) / n
        d = max(
            float(np.max(np.abs(cum - f(uniq)))),
            float(np.max(np.abs(cum - counts / n - f(uniq, left=True)))),
        )
        p = float(st.kstwo.sf(d, n))
        what = f"Kolmogorov-Smirnov D = {d:.4g}"
    if p < alpha:
        raise AssertionError(
            f"{head}: {what}, p = {p:.3g} < alpha = {alpha:g} (values: mean {xf.mean():.6g}, "
            f"std {xf.std():.6g}, min {xf.min():.6g}, max {xf.max():.6g})"
        )


def assert_parameterized(
    syn: pd.DataFrame,
    stats,
    *,
    by: str,
    types=None,
    properties=None,
    alpha: float = 1e-6,
) -> None:
    """Assert that a parameterized table's values follow ``stats``, pathway by pathway.

    For every property (default: all of the stats' except ``n_syn_per_conn``) the column dtype
    must be the one synframe gives it, and for every (src, tgt) pathway of the table:

    - ``shared_within`` specs: one value per connection (every synapse of a connection the same),
      and those values, one per connection, pass [`assert_drawn_from`][synframe.testing.assert_drawn_from];
    - per-synapse specs: every synapse's value passes [`assert_drawn_from`][synframe.testing.assert_drawn_from], and connections
      whose synapses all got one value are not more than chance allows (a per-connection draw
      where per-synapse was asked for fails).

    ``alpha`` is for the whole table (Bonferroni over the pathway x property tests). Correlated
    properties (``prop_cov``) are checked by their marginals. Every failure is listed in one
    ``AssertionError``.

    Examples
    --------
    A property test of your own model with hypothesis:

    >>> from hypothesis import given, settings, strategies as st
    >>> import synframe as sf
    >>> from synframe.testing import assert_parameterized, typed_synapse_tables
    >>> g = {"type": "gamma", "mean": 1.0, "std": 0.4, "shared_within": False, "upper_bound": 3.0}
    >>> my_model = sf.pathway_stats(
    ...     {"g": {"*": {"*": g}}, "u": {"*": {"*": {"type": "discrete", "val": [1, 2], "p": [0.3, 0.7]}}}},
    ...     by="synapse_class",
    ... )
    >>> @settings(max_examples=25, deadline=None, derandomize=True)
    ... @given(typed_synapse_tables(min_rows=1), st.integers(0, 2**32 - 1))
    ... def test_my_model(syn, seed):
    ...     out = sf.parameterize(syn, my_model, by="synapse_class", seed=seed)
    ...     assert_parameterized(out, my_model, by="synapse_class")
    >>> test_my_model()
    """
    from scipy import stats as st

    from . import _draw
    from .distributions import N_SYN_PER_CONN, is_discrete, shared_within
    from .pathways import Cells, check_by, validate

    validate(stats)
    try:
        check_by(stats, by)
    except PathwayError as exc:
        raise AssertionError(str(exc)) from None
    all_props = [str(p) for p in stats["property"].values.tolist()]
    props = (
        [p for p in all_props if p != N_SYN_PER_CONN] if properties is None else list(properties)
    )
    lacking = [p for p in props if p not in syn.columns]
    if lacking:
        raise AssertionError(f"the table has no columns {lacking} (properties of the stats)")
    src, tgt = _draw.pathway_types(syn, by, types)
    plan = _draw.plan(syn, src, tgt)
    cells = Cells(stats)
    a = alpha / max(1, len(props) * len(plan.pathways))
    n_conn = len(plan.conn_pre)
    size = np.bincount(plan.conn, minlength=n_conn)
    first = np.zeros(n_conn, dtype=np.int64)
    uc, fi = np.unique(plan.conn, return_index=True)
    first[uc] = fi
    order = np.argsort(plan.conn, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(plan.conn[order]) != 0]) if len(order) else order
    problems = []
    for p in props:
        col = syn[p].to_numpy()
        want = _draw.property_dtype(stats, p)
        if col.dtype != want:
            problems.append(f"{p}: column dtype {col.dtype}, synframe gives {want}")
        if col.dtype.kind not in "iuf":
            continue
        vs = col[order]
        if len(vs):
            same = np.minimum.reduceat(vs, starts) == np.maximum.reduceat(vs, starts)
        else:
            same = np.zeros(0, dtype=bool)
        for (s, t), rows, crow in zip(plan.pathways, plan.syn_rows, plan.conn_rows, strict=True):
            spec = cells(p, s, t)
            where = f"{p} [{s} -> {t}]"
            if spec is None:
                problems.append(f"{where}: no spec in the stats")
                continue
            if shared_within(spec):
                varies = int((~same[crow]).sum())
                if varies:
                    problems.append(
                        f"{where}: shared_within, but {varies} of {len(crow)} connections have "
                        "more than one value"
                    )
                    continue
                values = col[first[crow]]
            else:
                values = col[rows]
                multi = crow[size[crow] > 1]
                if len(multi) and not is_discrete(spec):
                    # identical values within a connection happen by chance only at atoms: the
                    # bounds, or values float precision lumps together (e.g. gamma draws at 0)
                    fc = _finished_cdf(spec, np.dtype(want), False)
                    lumped = multi[same[multi]]
                    atoms = np.unique(
                        np.r_[col[first[lumped]].astype("float64"),
                              [b for b in (spec.get("lower_bound"), spec.get("upper_bound")) if b is not None]]
                    )  # fmt: skip
                    mass = np.clip(fc(atoms) - fc(atoms, left=True), 0, 1)
                    m = size[multi].astype("float64")
                    chance = float((mass[None, :] ** m[:, None]).sum()) if len(atoms) else 0.0
                    observed = len(lumped)
                    if observed and st.poisson.sf(observed - 1, chance) < a:
                        problems.append(
                            f"{where}: per-synapse (shared_within false), but {observed} of "
                            f"{len(multi)} connections have one value for all their synapses "
                            f"(chance: {chance:.3g})"
                        )
                        continue
            try:
                assert_drawn_from(values, spec, alpha=a, check_dtype=False)
            except AssertionError as exc:
                problems.append(f"{where}: {exc}")
    if problems:
        raise AssertionError(format_problems("the table does not follow the stats", problems))
