"""Reading aha run directories for the notebooks.

A run directory (written by `aha run`) holds:

  summary.json                      preset, task, seed, label (the rest optional)
  pretrain.jsonl                    one JSON object per pretraining step (optional here)
  grpo.jsonl                        one JSON object per GRPO step (required)
  eval_{base,rl}_{test,ood}.json    held-out evaluations (each optional)

Which runs: the environment variable AHA_RUNS (space-separated directories), set
by scripts/notebooks.sh; when unset, every directory under results/ holding a
grpo.jsonl. Where figures go: AHA_FIGURES, default notebooks/figures/.
"""

import json
import os
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
STYLES = ["direct", "steps", "verify", "correct"]  # data/task.cpp kStyleNames, in order
STYLE_COLORS = {"direct": "#bbbbbb", "steps": "#4c78a8", "verify": "#f58518", "correct": "#e45756"}
# The trace checker's metrics (reward/trace.h TraceTotals::metrics), in its order: the keys
# of an eval JSON's "trace" object, and of every grpo.jsonl line prefixed "trace_" (rollouts)
# or, on eval steps, "eval_trace_" (greedy completions of held-out problems).
TRACE_METRICS = ["claims_per_completion", "false_claim_rate", "false_yes_share", "effective_correction_share",
                 "superficial_correction_share", "caught_rate", "faithful_share", "accuracy_with_correction",
                 "accuracy_without_correction"]


def run_dirs():
    """The run directories to plot; raises if one has no grpo.jsonl."""
    names = os.environ.get("AHA_RUNS", "").split()
    if not names:
        names = sorted(str(p.parent) for p in (REPO / "results").glob("**/grpo.jsonl"))
        if not names:
            raise FileNotFoundError(f"no runs: AHA_RUNS is unset and no {REPO / 'results'}/*/grpo.jsonl exists")
    dirs = [Path(name).resolve() for name in names]
    for d in dirs:
        if not (d / "grpo.jsonl").is_file():
            raise FileNotFoundError(f"run directory '{d}' has no grpo.jsonl (is it a run written by `aha run`?)")
    return dirs


def figures_dir():
    path = Path(os.environ.get("AHA_FIGURES") or REPO / "notebooks" / "figures")
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_jsonl(path):
    """One row per line; a line cut short (an interrupted run) is skipped with a note."""
    rows = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                print(f"note: {path}:{number} is not valid JSON (a cut line?); skipped")
    return pd.DataFrame(rows)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def load_run(directory):
    """A run as a dict: dir, summary, label, group, pretrain and grpo (DataFrames), evals."""
    directory = Path(directory)
    summary = read_json(directory / "summary.json") if (directory / "summary.json").is_file() else {}
    grpo = read_jsonl(directory / "grpo.jsonl")
    if grpo.empty:
        raise ValueError(f"{directory / 'grpo.jsonl'} has no steps")
    pretrain_path = directory / "pretrain.jsonl"
    pretrain = read_jsonl(pretrain_path) if pretrain_path.is_file() else None
    evals = {}  # ("base" | "rl", "test" | "ood") -> the eval JSON; missing files are absent
    for model in ["base", "rl"]:
        for split in ["test", "ood"]:
            path = directory / f"eval_{model}_{split}.json"
            if path.is_file():
                evals[(model, split)] = read_json(path)
    return {
        "dir": directory,
        "summary": summary,
        "label": summary.get("label") or directory.name,
        # Runs in one group differ only in their seed: their curves are averaged.
        "group": (summary.get("preset"), summary.get("task"), summary.get("mix", "default")),
        "pretrain": pretrain,
        "grpo": grpo,
        "evals": evals,
    }


def load_runs():
    runs = [load_run(d) for d in run_dirs()]
    labels = [run["label"] for run in runs]
    for i, run in enumerate(runs):
        run["color"] = f"C{i % 10}"
        if labels.count(run["label"]) > 1:  # two runs with one label: name them by directory too
            run["label"] = f"{run['label']} [{run['dir'].name}]"
    for run in runs:
        print(f"{run['label']:40s} {len(run['grpo']):5d} GRPO steps  evals: "
              f"{', '.join('_'.join(k) for k in run['evals']) or 'none'}   ({run['dir']})")
    return runs


def seed_groups(runs):
    """Groups of two or more runs that share preset, task and mix (they differ in seed)."""
    groups = {}
    for run in runs:
        groups.setdefault(run["group"], []).append(run)
    return {key: members for key, members in groups.items() if len(members) >= 2 and key[0] is not None}


def column(frame, name):
    """frame[name] indexed by step, NaN where absent (older logs, kl null when beta = 0)."""
    if frame is None or name not in frame:
        return pd.Series(dtype=float)
    return pd.to_numeric(frame.set_index("step")[name], errors="coerce").dropna()


def smoothing_window(n_steps):
    """A light rolling mean: about 1/20 of the run, between 3 and 25 steps."""
    return int(min(25, max(3, n_steps // 20)))


def plot_smoothed(ax, series, color, label, linestyle="-", raw=True, window=None):
    """The raw per-step series faint, its rolling mean on top (over `window` steps, default
    smoothing_window)."""
    if series.empty:
        return
    if raw:
        ax.plot(series.index, series.values, color=color, alpha=0.2, linewidth=0.8, linestyle=linestyle)
    smooth = series.rolling(window or smoothing_window(len(series)), min_periods=1).mean()
    ax.plot(smooth.index, smooth.values, color=color, linestyle=linestyle, linewidth=1.8, label=label)


def group_mean(runs, name):
    """Mean over the runs of one seed group, on the steps all of them logged."""
    table = pd.concat([column(run["grpo"], name) for run in runs], axis=1, join="inner")
    return table.mean(axis=1)


def save(fig, name):
    path = figures_dir() / name
    fig.savefig(path, dpi=120, bbox_inches="tight")
    print(f"wrote {path}")


def plot_metric(ax, runs, groups, name, linestyle="-", window=None):
    """One smoothed line per run for grpo.jsonl's `name`, plus each seed group's mean in black."""
    for run in runs:
        plot_smoothed(ax, column(run["grpo"], name), run["color"], run["label"], linestyle, window=window)
    for key, members in groups.items():
        label = f"mean of {len(members)} seeds ({' '.join(map(str, key))})"
        plot_smoothed(ax, group_mean(members, name), "black", label, linestyle, raw=False, window=window)


def has_trace(run):
    """Whether the run's grpo.jsonl has the trace checker's keys (runs from before it do not)."""
    return "trace_claims_per_completion" in run["grpo"]
