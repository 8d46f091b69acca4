"""The report's data sections: what the model is fed, its classes, the float model's sanity,
and how closely the converted model follows the float one (Markdown lines)."""

from __future__ import annotations

import math

from edgeloop.markdown import table
from edgeloop.preprocess import Preprocess

_CLASSES_SHOWN = 12


def render_data(report: dict) -> list[str]:
    """``## Data``: preprocessing, what the converted file takes, classes, notes, sanity."""
    data = report["data"]
    out = ["## Data", ""]
    spec = data.get("preprocess")
    out.append(f"- Preprocessing: {Preprocess.parse(spec).describe() if spec else 'none: the .npz x used as stored'}")
    convert = next((e["result"] for e in reversed(report["steps"]) if e["step"] == "convert"), None)
    if convert and convert.get("input"):
        out.append(f"- `{convert['file']}` takes: {convert['input']}")
    if convert and convert.get("fold"):
        fold = convert["fold"]
        out.append(f"- Preprocessing folded into the model (`fold_preprocessing: true`): "
                   f"folded vs unfolded Keras model on {fold['n']} samples: {_fidelity_words(fold)}")
    names = data.get("class_names")
    if data.get("labeled") is False:
        out.append("- Labels: none (the float model's outputs are the reference)")
    elif names:
        shown = ", ".join(f"{i} `{n}`" for i, n in enumerate(names[:_CLASSES_SHOWN]))
        more = f" … ({len(names)} in all)" if len(names) > _CLASSES_SHOWN else ""
        out.append(f"- Classes (id, name): {shown}{more}")
    elif data.get("classes"):
        out.append(f"- Classes: ids 0 to {data['classes'] - 1} (no names given: a classes.txt names them)")
    out += [f"- {note}" for note in report.get("data_notes") or []]
    sanity = report.get("sanity")
    if sanity and "accuracy" in sanity:
        low, high = sanity["interval"]
        verdict = {"ok": "passed", "chance": "no better than chance", "below_expected": "far below the recorded accuracy"}
        forced = " — went on with --force" if sanity.get("forced") else ""
        out.append(f"- Sanity before compression: float model {sanity['accuracy']:.2%} on {sanity['n']} validation "
                   f"samples (95 % interval {low:.1%}–{high:.1%}; chance {sanity['chance']:.1%}"
                   + (f"; training recorded {sanity['expected_accuracy']:.1%}" if sanity.get("expected_accuracy") else "")
                   + f"): {verdict.get(sanity['verdict'], sanity['verdict'])}{forced}")
        if sanity.get("message") and sanity["verdict"] != "ok":
            out.append(f"  {sanity['message']}")
    elif sanity:
        out.append(f"- Sanity before compression: {sanity.get('message', sanity['verdict'])}")
    return out + [""]


def render_fidelity(ev: dict) -> list[str]:
    """``## Fidelity``: the converted model's outputs against the float model's."""
    fid = ev.get("fidelity")
    if not fid:
        return []
    out = ["## Fidelity to the float model", "",
           f"Outputs on the {ev['n_val']} held-out samples; the float baseline is the reference "
           f"(task: {ev.get('task', 'classification')}).", ""]
    rows = []
    for m in fid.values():
        rows.append([m["output"], _db(m["snr_db"]), f"{m['cosine']:.5f}",
                     f"{m['changed']} of {m['n']}" if "changed" in m else "-",
                     f"{m['top1_agreement']:.2%}" if "top1_agreement" in m else "-",
                     f"{m['mean_abs_probability_delta']:.4f}" if "mean_abs_probability_delta" in m else "-"])
    header = ["comparison", "output SNR (dB)", "cosine", "top-1 changed", "top-1 agreement", "mean |Δprobability|"]
    return out + table(header, rows) + [""]


def _db(value: float) -> str:
    return "∞" if value == math.inf else f"{value:.1f}"


def _fidelity_words(m: dict) -> str:
    words = f"output SNR {_db(m['snr_db'])} dB, max |Δ| {m['max_abs_diff']:.2g}"
    if "changed" in m:
        words += f", {m['changed']} of {m['n']} top-1 changed"
    return words
