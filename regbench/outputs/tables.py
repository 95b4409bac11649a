"""Comparison tables in the reference paper's Table 1 form.

Table 1 has one row per test pair with each method's Dice as "mean ± std over
labels", and a last row averaging both numbers over pairs; with several seeds a cell
averages them and a row gives the spread across seeds; regbench adds the mean
seconds per pair (marked ‡ when measured while other processes used the CPU), and the
count of failed pairs when there are any; a learning method whose training stopped on
its budget before converging is marked † (``--train until=converged`` trains it out);
a method whose Dice is below the floor's (``identity``, no motion) on most pairs is
marked §, with the two mistakes that usually cause it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from regbench.outputs import schema, seeds
from regbench.plugin.training import STOP_BUDGET


NO_LABELS = "no labels"  # a pair registered, but without label maps to score Dice on
FLOOR = ("identity",)  # the built-in method that does not move the image: what every method must beat


def _cell(mean: float, std: float, ok: bool = False) -> str:
    if pd.isna(mean):
        return NO_LABELS if ok else "failed"
    return f"{mean:.4f} ± {std:.4f}"


def _train_cell(first: pd.Series, stored: pd.DataFrame) -> str:
    """A method's training seconds (``first``: one of its rows, seeds averaged), marked ‡
    when ``stored`` (its rows as stored, per seed) says a training was contended."""
    seconds = first.get("train_seconds")
    if pd.isna(seconds):
        return "-"
    mark = CONTENDED_MARK if schema.training_contended(stored) else ""
    return f"{seconds:.1f}{mark}" + (" (cached)" if first.get("train_cached") == True else "")  # noqa: E712 - numpy bools too


CONTENDED_MARK = " ‡"


def contention_note(results: pd.DataFrame) -> str | None:
    """A line explaining the ‡ marks of :func:`table1` (pair times and training times), or
    None when every method was timed alone."""
    ok = results[results["status"] == schema.OK]
    busy = []
    for method, rows in ok.groupby("method", sort=False):
        share = schema.contention(rows)
        busy += [f"{method} {share:.0%}"] if share > schema.CONTENTION_LIMIT else []
    for method, rows in results.groupby("method", sort=False):
        share = schema.training_contention(rows)
        busy += [f"{method}'s training {share:.0%}"] if share > schema.CONTENTION_LIMIT else []
    if not busy:
        return None
    return (f"‡ timed while other processes used the CPU ({', '.join(busy)} of its cores): these seconds read slower "
            f"than the method is; time it again on an idle machine")


UNDERTRAINED_MARK = "†"


def undertrained(results: pd.DataFrame) -> dict[str, str]:
    """Learning methods whose training stopped on its budget while validation was still
    improving, each with how far it got: ``{"vxm1": "250 steps, validation Dice still
    rising (0.7012 at the last step)"}``."""
    if "train_stop" not in results:
        return {}
    found = {}
    for method, rows in results.groupby("method", sort=False):
        stopped = rows[rows["train_stop"] == STOP_BUDGET]
        if stopped.empty:
            continue
        first = stopped.iloc[0]
        steps, best_step, dice = first["train_steps"], first.get("train_best_step"), first.get("train_val_dice")
        if pd.isna(dice):  # no labels: the validation followed the image MSE
            how = f"{steps:.0f} steps, validation not settled"
        elif best_step == steps:
            how = f"{steps:.0f} steps, validation Dice still rising ({dice:.4f} at the last step)"
        else:
            how = f"{steps:.0f} steps, validation not settled (best Dice {dice:.4f} at step {best_step:.0f})"
        if "seed" in rows and rows["seed"].nunique() > 1:
            how = f"{stopped['seed'].nunique()} of {rows['seed'].nunique()} seeds; seed {first['seed']:.0f}: {how}"
        found[method] = how
    return found


def _note(mark: str, marked: dict[str, str], what: str, advice: str) -> str | None:
    """The line that explains ``mark``: what it means, each marked method with its
    details, then the advice; None when no method is marked."""
    if not marked:
        return None
    listed = "; ".join(f"{method}: {how}" for method, how in marked.items())
    return f"{mark} {what} ({listed}): {advice}"


def undertrained_note(results: pd.DataFrame) -> str | None:
    """A line explaining the † marks of :func:`table1`, or None when no learned method is marked."""
    return _note(UNDERTRAINED_MARK, undertrained(results), "stopped on the training budget before converging",
                 "these rows understate the method; train to convergence with --profile converge or "
                 "--train until=converged")


BELOW_FLOOR_MARK = "§"
BELOW_FLOOR_PAIRS = 3  # the fewest pairs scored by both a method and the floor that can mark it


def below_floor(results: pd.DataFrame) -> dict[str, str]:
    """Methods whose Dice is below the floor's on more than half of the pairs both
    scored (at least :data:`BELOW_FLOOR_PAIRS`; a pair's Dice is the mean over its
    successful seeds), each with how often and by how much: ``{"mine": "5 of 6 pairs,
    mean Dice 0.395 against identity's 0.550"}``. Doing worse than not moving is what a
    field that points the wrong way, or has its components in the wrong order, gives: a
    table that looks plausible. Empty without the floor's rows or Dice."""
    if "dice_mean" not in results:
        return {}
    ok = results[(results["status"] == schema.OK) & results["dice_mean"].notna()]
    scores = ok.groupby(["pair", "method"], sort=False)["dice_mean"].mean().unstack()
    floor = next((method for method in FLOOR if method in scores), None)
    if floor is None:
        return {}
    found = {}
    for method in scores.columns.drop(floor):
        both = scores[method].notna() & scores[floor].notna()
        below = int((scores.loc[both, method] < scores.loc[both, floor]).sum())
        if both.sum() >= BELOW_FLOOR_PAIRS and below > both.sum() / 2:
            found[method] = (f"{below} of {both.sum()} pairs, mean Dice {scores.loc[both, method].mean():.3f} "
                             f"against {floor}'s {scores.loc[both, floor].mean():.3f}")
    return found


def below_floor_note(results: pd.DataFrame) -> str | None:
    """A line explaining the § marks of :func:`table1`, or None when no method is marked."""
    return _note(BELOW_FLOOR_MARK, below_floor(results), f"scores below {FLOOR[0]} (no motion) on most pairs",
                 "a registration method should not do worse than not moving. The two usual causes: a field that "
                 "points the wrong way (regbench's fields pull back, warped(x) = moving(x + u(x)), so negate a "
                 "push-forward field) or components in (x, y, z) order instead of the array's axis order (reverse "
                 "them); the conformance kit, regbench.testing.MethodConformance, checks both")


def table_notes(results: pd.DataFrame) -> list[str]:
    """The lines that explain :func:`table1`'s marks (‡ contended timing, † under-trained, § below the floor)."""
    notes = (contention_note(results), undertrained_note(results), below_floor_note(results))
    return [note for note in notes if note]


def marked_names(results: pd.DataFrame) -> dict[str, str]:
    """Each method's name in tables: with † when its training stopped on budget before
    converging, § when it scores below the floor on most pairs."""
    undertrained_methods, below = undertrained(results), below_floor(results)
    return {method: method + (UNDERTRAINED_MARK if method in undertrained_methods else "")
            + (BELOW_FLOOR_MARK if method in below else "") for method in dict.fromkeys(results["method"])}


def _across_seeds_cell(row: pd.Series) -> str:
    if np.isnan(row["mean"]):
        return "failed"
    if row["seeds"] < 2:
        return f"{row['mean']:.4f} (run once)"
    return f"{row['mean']:.4f} ± {row['std']:.4f} ({row['seeds']:.0f} seeds)"


def table1(results: pd.DataFrame) -> pd.DataFrame:
    """Rows: test pairs, then ``mean`` and, where they apply, ``across seeds`` (the mean
    over seeds of the mean Dice ± its std across seeds), ``s / pair``, ``train s``,
    ``train steps`` (and why training stopped), ``parameters`` and ``failed pairs``;
    columns: methods (marked † when under-trained). With several seeds, a pair's cell
    averages its seeds (:func:`regbench.outputs.seeds.pair_means`)."""
    names = marked_names(results)
    across = seeds.spread(results, "dice_mean") if seeds.repeated(results) and "dice_mean" in results else None
    stored, results = results, seeds.pair_means(results)
    methods = list(dict.fromkeys(results["method"]))
    pairs = list(dict.fromkeys(results["pair"]))
    by_key = results.set_index(["pair", "method"])
    table = pd.DataFrame(index=pairs, columns=methods, dtype=object)
    for (pair, method), row in by_key.iterrows():
        table.loc[pair, method] = _cell(row.get("dice_mean", np.nan), row.get("dice_std", np.nan),
                                        ok=row["status"] == schema.OK)
    summary = {}
    for method in methods:
        rows = results[results["method"] == method]
        ok = rows[rows["status"] == schema.OK]
        first = rows.iloc[0]
        summary[method] = {
            "mean": (_cell(ok["dice_mean"].mean(), ok["dice_std"].mean(), ok=True) if "dice_mean" in ok else NO_LABELS)
            if len(ok) else "failed",
            "across seeds": _across_seeds_cell(across.loc[method]) if across is not None else "-",
            "s / pair": f"{ok['seconds'].mean():.3f}{CONTENDED_MARK if schema.contended(ok) else ''}" if len(ok) else "-",
            "train s": _train_cell(first, stored[stored["method"] == method]),
            "train steps": (f"{first['train_steps']:.0f} ({first['train_stop']})"
                            if pd.notna(first.get("train_steps")) and pd.notna(first.get("train_stop")) else "-"),
            "parameters": f"{int(first['parameters']):,}" if pd.notna(first.get("parameters")) else "-",
            "failed pairs": f"{len(rows) - len(ok)} of {len(rows)}",
        }
    extra = pd.DataFrame(summary, dtype=object)
    if across is None:
        extra = extra.drop(index="across seeds")
    if (results["status"] == schema.OK).all():
        extra = extra.drop(index="failed pairs")
    if "train_seconds" not in results or results["train_seconds"].isna().all():
        extra = extra.drop(index="train s")
    if "train_stop" not in results or results["train_stop"].isna().all():
        extra = extra.drop(index="train steps")
    if "parameters" not in results or results["parameters"].isna().all():
        extra = extra.drop(index="parameters")
    if results["seconds"].isna().all():  # fields scored by `regbench evaluate`: nothing was timed
        extra = extra.drop(index="s / pair")
    table = pd.concat([table, extra])
    table.index.name = "pair"
    return table.rename(columns=names)


def console_table(results: pd.DataFrame, max_pair_rows: int = 20) -> str:
    """Table 1 for a terminal: long pair lists are shortened (the file keeps them all)."""
    table = table1(results)
    n_pairs = results["pair"].nunique()
    if n_pairs > max_pair_rows:
        head, tail = table.iloc[: max_pair_rows // 2], table.iloc[n_pairs:]
        gap = pd.DataFrame([["..."] * table.shape[1]], columns=table.columns,
                           index=[f"... ({n_pairs - max_pair_rows // 2} more pairs)"])
        table = pd.concat([head, gap, tail])
    return table.to_markdown(tablefmt="simple")
