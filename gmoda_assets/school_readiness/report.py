"""What the evaluation says, as Markdown for the Dagster UI and the model card: tables, and the ROC and
calibration curves as inline SVG images (no plotting library needed)."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd

from gmoda_assets.school_readiness import training

AIM = (0.90, 0.95)  # the accuracy the next model was asked for
_COLOURS = {"majority": "#999999", "pilot": "#e69f00", "pilot_stockport": "#d55e00", "logistic": "#56b4e9", "boosted": "#009e73",
            "bayes_optimal": "#000000"}


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """``frame`` (its index as the first column) as a Markdown table; missing values blank."""
    head = [frame.index.name or "", *map(str, frame.columns)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for index, row in frame.iterrows():
        cells = ["" if pd.isna(v) else f"{v:.{digits}f}" if isinstance(v, float) and not float(v).is_integer()
                 else f"{int(v):,}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join([str(index), *cells]) + " |")
    return "\n".join(lines)


def _svg(title: str, series: dict[str, list[tuple[float, float]]], x_label: str, y_label: str) -> str:
    """A 0-1 by 0-1 line chart as a Markdown image (an SVG data URI), with the diagonal for reference."""
    size, pad = 260, 30
    to_xy = lambda x, y: (pad + x * (size - 2 * pad), size - pad - y * (size - 2 * pad))  # noqa: E731
    lines = [f'<line x1="{pad}" y1="{size - pad}" x2="{size - pad}" y2="{pad}" stroke="#ccc"/>']
    for i, (name, points) in enumerate(series.items()):
        path = " ".join("{:.1f},{:.1f}".format(*to_xy(x, y)) for x, y in points)
        colour = _COLOURS.get(name, "#333")
        lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{path}"/>')
        lines.append(f'<text x="{pad + 5}" y="{pad + 12 * (i + 1)}" font-size="10" fill="{colour}">{name}</text>')
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}">'
           f'<rect x="{pad}" y="{pad}" width="{size - 2 * pad}" height="{size - 2 * pad}" fill="none" stroke="#666"/>'
           f'<text x="{pad}" y="{pad - 8}" font-size="11">{title}</text>'
           f'<text x="{pad}" y="{size - 8}" font-size="10">{x_label}</text>'
           f'<text x="4" y="{pad + 60}" font-size="10" transform="rotate(-90 8 {pad + 60})">{y_label}</text>'
           + "".join(lines) + "</svg>")
    return f"![{title}](data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()})"


def _bars(title: str, labels: list[str], values: list[float], bars: list[float], colour: str) -> str:
    """Paired bars from 0 to 1 per label (``values`` in ``colour``, ``bars`` in grey) as a Markdown image."""
    width, height, pad, slot = 40 + 36 * max(len(labels), 1), 220, 30, 36
    y = lambda v: height - pad - v * (height - 2 * pad)  # noqa: E731
    shapes = []
    for i, (label, value, other) in enumerate(zip(labels, values, bars)):
        x = pad + i * slot
        shapes.append(f'<rect x="{x + 4}" y="{y(value):.1f}" width="12" height="{height - pad - y(value):.1f}" '
                      f'fill="{colour}"/>')
        shapes.append(f'<rect x="{x + 17}" y="{y(other):.1f}" width="12" height="{height - pad - y(other):.1f}" '
                      f'fill="#999999"/>')
        shapes.append(f'<text x="{x + 4}" y="{height - pad + 12}" font-size="8">{label[-2:]}</text>')
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
           f'<text x="{pad}" y="{pad - 12}" font-size="11">{title}</text>'
           f'<line x1="{pad}" y1="{y(0)}" x2="{width - 10}" y2="{y(0)}" stroke="#666"/>'
           f'<line x1="{pad}" y1="{y(0.5):.1f}" x2="{width - 10}" y2="{y(0.5):.1f}" stroke="#ccc"/>'
           + "".join(shapes) + "</svg>")
    return f"![{title}](data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()})"


def _roc(y: np.ndarray, p: np.ndarray) -> list[tuple[float, float]]:
    order = np.argsort(-p, kind="stable")
    hits = np.concatenate([[0], np.cumsum(y[order])]) / max(y.sum(), 1)
    false = np.concatenate([[0], np.cumsum(~y[order])]) / max((~y).sum(), 1)
    keep = np.unique(np.linspace(0, len(hits) - 1, 60).astype(int))
    return list(zip(false[keep].tolist(), hits[keep].tolist()))


def overall(table: pd.DataFrame) -> pd.DataFrame:
    rows = table[table["group_kind"] == "all"].set_index("model")
    return rows[["children", "accuracy", "majority_accuracy", "balanced_accuracy", "auc", "brier", "ece"]]


def evaluation_markdown(run: dict, table: pd.DataFrame, curves: dict) -> str:
    """The evaluation of ``run`` for the asset's page: every model overall, the chosen one per group, the
    calibration table and the curves."""
    chosen = run["chosen_model"]
    mine = table[table["model"] == chosen]
    groups = mine[~mine["group_kind"].isin(["all", "calibration_bin"])].set_index(["group_kind", "group_value"])
    calibration = mine[mine["group_kind"] == "calibration_bin"].set_index("group_value")
    roc = _svg("ROC", {m: _roc(y, p) for m, (y, p) in curves.items() if m != "majority"},
               "false positive rate", "true positive rate")
    reliability = _svg("Calibration", {m: list(zip(t["mean_predicted"], t["observed_rate"])) for m, t in
                                       table[table["group_kind"] == "calibration_bin"].groupby("model")
                                       if m != "majority"}, "predicted", "observed")
    councils = groups.loc["council"] if "council" in groups.index.get_level_values(0) else pd.DataFrame()
    bars = _bars("Accuracy by council: model (colour) and majority class (grey)", councils.index.tolist(),
                 councils.get("accuracy", pd.Series(dtype=float)).tolist(),
                 councils.get("majority_accuracy", pd.Series(dtype=float)).tolist(), _COLOURS.get(chosen, "#333"))
    return "\n\n".join([
        f"### {run['model_version']}: validated on {run['validation_year']}, trained on {run['train_years']}",
        markdown_table(overall(table)),
        f"#### {chosen} by group",
        markdown_table(groups[["children", "observed_rate", "mean_predicted", "accuracy", "majority_accuracy", "auc",
                               "ece"]]),
        f"#### Calibration of {chosen}",
        markdown_table(calibration[["children", "mean_predicted", "observed_rate"]]),
        " ".join([roc, reliability, bars]),
    ])


def fairness_gaps(table: pd.DataFrame, model: str) -> pd.DataFrame:
    """Per kind of group (council, sex, deprivation quintile, ethnic group), how far apart ``model`` does across
    its groups: accuracy and AUC lowest, highest and the gap between them, and the group whose mean predicted
    probability is furthest from its observed rate (predicted - observed: above 0, the model expects more children
    of that group to reach GLD than do), with the smallest group's children (a gap across small groups is
    partly noise)."""
    rows = {}
    groups = table[(table["model"] == model) & ~table["group_kind"].isin(["all", "calibration_bin"])]
    for kind, mine in groups.groupby("group_kind", sort=False):
        mine = mine.set_index("group_value")
        miscalibration = (mine["mean_predicted"] - mine["observed_rate"]).astype(float)
        worst = miscalibration.abs().idxmax()
        rows[kind] = {
            "groups": len(mine), "smallest_group": int(mine["children"].min()),
            "lowest_accuracy": mine["accuracy"].min(), "highest_accuracy": mine["accuracy"].max(),
            "accuracy_gap": mine["accuracy"].max() - mine["accuracy"].min(),
            "lowest_auc": mine["auc"].min(), "highest_auc": mine["auc"].max(),
            "auc_gap": mine["auc"].max() - mine["auc"].min(),
            "worst_calibrated_group": str(worst), "its_predicted_minus_observed": float(miscalibration[worst]),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("group")


def targets(table: pd.DataFrame, chosen: str) -> str:
    """The issue's targets on simulated data, each with the figure it is judged by and whether it is met: AUC at
    least 0.95 of the Bayes-optimal AUC, expected calibration error at most 0.02 overall and 0.03 in every
    council. Beside each calibration error, the true probabilities' own on the same children where the truth is
    at hand: measured against outcomes rather than truth, even perfect probabilities have one (sampling noise)."""
    figures = overall(table)
    bayes = "bayes_optimal" in figures.index
    by_council = {m: table[(table["model"] == m) & (table["group_kind"] == "council")].set_index("group_value")
                  for m in (chosen, "bayes_optimal")}
    met = lambda ok: "met" if ok else "not met"  # noqa: E731
    if bayes:
        share = figures.loc[chosen, "auc"] / figures.loc["bayes_optimal", "auc"]
        lines = [f"- AUC at least 0.95 of the Bayes-optimal: {figures.loc[chosen, 'auc']:.3f} / "
                 f"{figures.loc['bayes_optimal', 'auc']:.3f} = {share:.2f} ({met(share >= 0.95)})"]
    else:
        lines = ["- AUC at least 0.95 of the Bayes-optimal: not measured (no simulated truth at hand)"]
    ece = figures.loc[chosen, "ece"]
    noise = f"; the true probabilities: {figures.loc['bayes_optimal', 'ece']:.3f}" if bayes else ""
    lines.append(f"- Expected calibration error at most 0.02 overall: {ece:.3f} on "
                 f"{int(figures.loc[chosen, 'children']):,} children ({met(ece <= 0.02)}{noise})")
    councils = by_council[chosen]
    if len(councils):
        worst = councils["ece"].astype(float).idxmax()
        truth = by_council["bayes_optimal"]
        noise = (f"; the true probabilities there: {truth.loc[worst, 'ece']:.3f}, worst council "
                 f"{truth['ece'].max():.3f}" if bayes and worst in truth.index else "")
        lines.append(f"- At most 0.03 in every council: worst {councils.loc[worst, 'ece']:.3f} in {worst}, "
                     f"{int(councils.loc[worst, 'children']):,} children ({met(councils['ece'].max() <= 0.03)}"
                     f"{noise})")
    return "\n".join(lines)


def model_card(run: dict, table: pd.DataFrame, features: pd.DataFrame) -> str:
    """The model card: data, period, features, metrics beside the baseline and the Bayes-optimal, fairness gaps,
    limits, and the accuracy aim measured against what the data allows."""
    chosen = run["chosen_model"]
    figures = overall(table)
    mine = figures.loc[chosen]
    bayes = figures.loc["bayes_optimal"] if "bayes_optimal" in figures.index else None
    by_council = table[(table["model"] == chosen) & (table["group_kind"] == "council")]
    if bayes is not None:
        ceiling = (f"On this simulated data the best any model can do, knowing each child's true probability, is "
                   f"accuracy {bayes.accuracy:.1%} and AUC {bayes.auc:.3f}; the chosen model reaches "
                   f"{mine.accuracy / bayes.accuracy:.0%} of that accuracy and {mine.auc / bayes.auc:.0%} of that AUC.")
    else:
        ceiling = ("No simulated truth is at hand, so the Bayes-optimal ceiling is not measured here; on simulated "
                   "Greater Manchester data it is about 76% accuracy.")
    stockport = ""
    if "pilot_stockport" in figures.index:
        ps = figures.loc["pilot_stockport"]
        stockport = (f" The pilot's own setting, its model trained and validated on Stockport's children alone, scores "
                     f"{ps.accuracy:.1%} against {ps.majority_accuracy:.1%} for Stockport's majority class "
                     f"({int(ps.children):,} children): a quoted accuracy means little beside the share who reach GLD.")
    known = features[features["outcome_status"] == "known"]
    return "\n\n".join([
        f"# Model card: {run['model_version']}",
        f"Trained {run['trained_at']:%Y-%m-%d %H:%M} UTC by code {run['code_version']} (Dagster run "
        f"{run['dagster_run']}).",
        "## Purpose\nPredict, before a child starts Reception, whether they will reach a Good Level of Development "
        "(GLD) at its end, so that councils can offer early help. A probability for a child, never a verdict on "
        "them. Purpose under the data-sharing agreements: school_readiness.",
        f"## Data\n{len(known):,} linked children with a known EYFSP outcome, assessment years "
        f"{', '.join(sorted(known['assessment_year'].unique()))}; trained on {run['train_years']} "
        f"({run['children_train']:,} children), validated on {run['validation_year']} "
        f"({run['children_validation']:,} children, never trained on). Features as of the prediction point (the "
        "earlier of the 4th birthday and 31 August before Reception), from NHS births and health-visiting "
        "reviews, funded early education and children's social care; no police or housing data (no agreement "
        "permits them for this purpose).",
        f"## Features of the chosen model ({chosen})\n{run['features']}.",
        f"## Metrics on the validation cohort\n{training.CANDIDATES[chosen].description} was chosen (lowest Brier "
        f"score).\n\n{markdown_table(figures)}",
        f"## Targets on simulated data\n{targets(table, chosen)}",
        f"## Fairness: the chosen model across groups\n{markdown_table(fairness_gaps(table, chosen))}\n\nPer council:\n\n"
        f"{markdown_table(by_council.set_index('group_value')[['children', 'accuracy', 'majority_accuracy', 'auc', 'ece']])}",
        "## Limits\nThe features stop at the prediction point: free school meals, special educational needs and "
        "first language are recorded only with the result, after it, and are not used. Children who move into "
        "Greater Manchester after birth have fewer features. A child's development that no record observes is "
        "most of what decides the outcome, so many children will be predicted wrongly whichever model is used; "
        "use the probability to offer help, not to label.",
        f"## The 90-95% accuracy aim\nThe chosen model's accuracy is {mine.accuracy:.1%} against "
        f"{mine.majority_accuracy:.1%} for predicting that every child reaches GLD.{stockport} {ceiling} An accuracy of "
        f"{AIM[0]:.0%}-{AIM[1]:.0%} is not achievable from what is recorded before school: the outcome depends on "
        "much that no record holds.",
    ])
