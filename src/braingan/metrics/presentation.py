"""How the metrics whose values are not a flat list of numbers are shown: rows and report sections.

These read only a metric's metrics.json values, so the report can show a file written earlier
exactly as the evaluation that wrote it did.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from braingan.metrics.result import Block, Figure, Paragraph, Row, Section, Table, fmt, number_rows

UTILITY_ARMS = ("real_only", "real_plus_synthetic", "difference")
UTILITY_ARM_NAMES = {"real_only": "real only", "real_plus_synthetic": "real plus synthetic",
                     "difference": "difference (paired)"}
UTILITY_SCORES = ("balanced_accuracy", "auc", "accuracy")
UTILITY_SCORE_NAMES = {"balanced_accuracy": "balanced accuracy", "auc": "AUC", "accuracy": "accuracy"}
UTILITY_READINGS = ("balanced_accuracy", "auc")  # accuracy rewards answering the majority class
UTILITY_BETTER = "higher (above 0: synthetic images help)"


def swd_rows(values: Mapping[str, Any], better: str) -> list[Row]:
    """The mean, then one row per pyramid level (each also a reading), then the bookkeeping."""
    rows = number_rows(values, {"mean": better})
    levels = [Row(f"per_level.{level}", fmt(v), better) for level, v in values.get("per_level", {}).items()]
    return rows[:1] + levels + rows[1:]


def _utility_score(score: Mapping[str, Any], signed: bool = False, bracket: bool = True) -> str:
    """Mean and 95% interval over seeds; a file from before intervals were kept shows mean ± std."""
    form = "+.3f" if signed else ".3f"
    if not bracket:
        return f"{score['mean']:{form}}"
    if score.get("low") is not None:
        return f"{score['mean']:{form}} [{score['low']:{form}}, {score['high']:{form}}]"
    if "low" in score:
        return f"{score['mean']:{form}} (one seed: no interval)"
    return f"{score['mean']:{form}} ± {score['std']:.3f}"


def _utility_arms(values: Mapping[str, Any]) -> list[str]:
    return [arm for arm in UTILITY_ARMS if arm in values]


def utility_rows(values: Mapping[str, Any]) -> list[Row]:
    """Each arm's scores (mean and interval over seeds), then their paired difference, the reading
    (its interval in the interval column); then the counts and the majority-class baseline."""
    rows = []
    for arm in _utility_arms(values):
        for score in (s for s in UTILITY_SCORES if s in values[arm]):
            reading = arm == "difference" and score in UTILITY_READINGS
            rows.append(Row(f"{arm}.{score}", _utility_score(values[arm][score], signed=arm == "difference",
                                                             bracket=not reading), UTILITY_BETTER if reading else None))
    return rows + number_rows(values, {})


def utility_section(values: Mapping[str, Any]) -> Section:
    """The verdict first (a warning when the real-only classifier did not learn the task), the
    set-up, then both arms and their paired difference."""
    scores = [s for s in UTILITY_SCORES if s in values["real_only"]]
    table = Table(("training set", *(UTILITY_SCORE_NAMES[s] for s in scores)),
                  tuple((UTILITY_ARM_NAMES[arm], *(_utility_score(values[arm][s], signed=arm == "difference")
                                                   for s in scores))
                        for arm in _utility_arms(values)), row_headers=True)
    per_class = values.get("synthetic_per_class")
    synthetic = f"{values['n_synthetic']} synthetic ones" + (
        " (" + ", ".join(f"{n} {c}" for c, n in per_class.items())
        + f": up to {values['synthetic_ratio']:g}x the real training images of each class)" if per_class else "")
    seeds = values["seeds"]
    setup = (f"Small CNN at {values['resolution']} px, trained once per seed ({seeds} seed{'s' * (seeds != 1)}"
             + (f", {values['epochs']} epochs each" if "epochs" in values else "")
             + f"); {values['n_train_real']} real training images and {synthetic}; {values['n_test_real']} held-out "
             f"real test images; classes {', '.join(values['classes'])}.")
    if "majority" in values:
        setup += f" Always answering the majority class scores accuracy {values['majority']:.3f} on the test images."
    blocks: list[Block] = []
    if "verdict" in values:
        blocks.append(Paragraph(values["verdict"], "" if values.get("beats_majority") else "warn"))
    blocks += [Paragraph(setup), table]
    if "interval_over" in values:
        blocks.append(Paragraph(values["interval_over"], "note"))
    return Section("Augmentation utility", tuple(blocks))


MEMORIZATION_BETTER = {"flagged": "fewer", "flagged_fraction": "fewer", "min_distance": "higher",
                       "max_ssim": "lower"}


def memorization_rows(values: Mapping[str, Any]) -> list[Row]:
    return number_rows(values, MEMORIZATION_BETTER)


def memorization_section(values: Mapping[str, Any], title: str = "Memorization audit",
                          image: str = "training image") -> Section:
    """The verdict, the base rate it is read against, the thresholds, and the closest pairs
    (against the training images, or another set such as a prior's, named by ``image``)."""
    flagged = values["flagged"]
    blocks: list = [
        Paragraph(f"{flagged} generated images are closer to a {image} than distinct real scans come to "
                  "each other.", "warn") if flagged else
        Paragraph(f"No generated image is closer to a {image} than distinct real scans come to each other.")]
    if values.get("holdout_n"):
        blocks.append(Paragraph(
            f"Base rate: the same audit flags {values['holdout_flagged']} of {values['holdout_n']} held-out real "
            f"scans ({values['holdout_flagged_fraction']:.1%}; {values['holdout_set_aside']} set aside as copies of "
            f"a {image}), against {values['flagged_fraction']:.1%} of the generated images. Samples flagged "
            "far more often than new patients' scans are memorised."))
    blocks += [
        Paragraph(f"Threshold: RMS pixel distance ≤ {values['threshold_distance']:.4f} or SSIM ≥ "
                  f"{values['threshold_ssim']:.3f} ({values['calibration']}: {values['real_near_duplicates']} of "
                  "them).", "note"),
        Paragraph(f"Closest pairs: generated (top row) over its nearest {image} (bottom row)."),
        Figure("pairs", "closest generated/training pairs"),
        Table(("sample", image, "RMS distance", "SSIM"),
              tuple((str(p["sample"]), str(p["train_index"]), f"{p['distance']:.4f}", f"{p['ssim']:.3f}")
                    for p in values.get("pairs", []))),
    ]
    return Section(title, tuple(blocks))


# The report's summary: each headline is the reading in one sentence and how to read it, and
# says plainly when the reading is bad.

def beside_floor(values: Mapping[str, Any], key: str) -> str:
    """" (95% interval a to b). Two halves of the real scans give F against each other; the
    samples give S at that same n" (empty when the evaluation measured no floor)."""
    floor, matched = (values.get("floor") or {}).get(key), (values.get("at_floor_n") or {}).get(key)
    if floor is None or matched is None:
        return ""
    interval = (values.get("interval") or {}).get(key)
    spread = f" (95% interval {interval[0]:.3g} to {interval[1]:.3g})" if interval else ""
    return (f"{spread}. Two halves of the real scans give {floor:.3g} against each other; the samples give "
            f"{matched:.3g} at that same n")


def fid_headline(values: Mapping[str, Any]) -> tuple[Block, ...]:
    return (Paragraph(f"FID {values['value']:.1f}{beside_floor(values, 'value')}. It says how far the samples' "
                      "Inception statistics are from the real scans' (lower is better), and is biased upward with "
                      "few images: compare at the same number of samples and real scans, not with published "
                      "values."),)


def swd_headline(values: Mapping[str, Any]) -> tuple[Block, ...]:
    return (Paragraph(f"SWD {values['mean']:.1f}{beside_floor(values, 'mean')}. It says how far the samples' "
                      "local patches, at every scale, are from the real scans' (lower is better; needs no network "
                      "weights)."),)


def prdc_headline(values: Mapping[str, Any]) -> tuple[Block, ...]:
    scores = {k: values[k] for k in ("precision", "recall", "coverage")}
    if not any(scores.values()):
        return (Paragraph("Precision, recall and coverage are all 0: no sample lies among the real scans' nearest "
                          "neighbours in feature space, so the samples are not yet realistic by this measure. That "
                          "is what a short run on a few images (such as the demo) gives; train longer or with a "
                          "few-shot preset.", "warn"),)
    return (Paragraph(f"Precision {scores['precision']:.2f}, recall {scores['recall']:.2f}, coverage "
                      f"{scores['coverage']:.2f}: how many samples look like real scans, how much of the real "
                      "scans' variety the samples reach, and how many real scans have a sample near them "
                      "(each about 1 when matched)."),)


def two_sample_headline(values: Mapping[str, Any]) -> tuple[Block, ...]:
    """The accuracy in the best feature space at hand, read against 0.5 and the floor."""
    space = "inception" if values.get("inception") is not None else "radiomic"
    accuracy = values[space]
    floor = (values.get("floor") or {}).get(space)
    text = (f"A classifier tells the samples from real scans {accuracy:.0%} of the time on {space} features "
            "(50% is chance: indistinguishable"
            + (f"; two halves of the real scans give {floor:.0%}" if floor is not None else "") + ").")
    if accuracy < 0.4:
        return (Paragraph(text + " Far below chance: the samples are copies of real scans.", "warn"),)
    if accuracy > 0.8:
        return (Paragraph(text + " The samples are easy to tell from real scans: not yet realistic.", "warn"),)
    return (Paragraph(text),)


def diversity_headline(values: Mapping[str, Any]) -> tuple[Block, ...]:
    ratio = values.get("ratio")
    if ratio is None:
        return ()
    yardstick = (f" Real scans of patients not trained on score {values['holdout_ratio']:.2f} against the same "
                 "scans: read the ratio beside that." if values.get("holdout_ratio") else "")
    text = (f"Variety ratio {ratio:.2f}: the samples' mean pairwise MS-SSIM over the real scans' (1 is as varied as "
            "the real scans; above 1, the samples are more alike than real scans are).")
    collapsed = ratio > 1.5 * max(1.0, values.get("holdout_ratio") or 1.0)
    return (Paragraph(text + yardstick + (" The samples vary far less than real scans: a sign of mode collapse."
                                          if collapsed else ""), "warn" if collapsed else ""),)


def memorization_headline(values: Mapping[str, Any], audit: str = "Copy audit",
                          image: str = "training image") -> tuple[Block, ...]:
    flagged, fraction = values["flagged"], values["flagged_fraction"]
    base = values.get("holdout_flagged_fraction") if values.get("holdout_n") else None
    text = (f"{audit}: {flagged} samples ({fraction:.1%}) are closer to a {image} than distinct real "
            "scans come to each other")
    if base is not None:
        text += f"; the same audit flags {base:.1%} of real scans of patients not trained on."
        worse = fraction > 2 * base + 0.01
    else:
        text += ". Pass --holdout to evaluate for the rate at which it flags real scans of new patients."
        worse = flagged > 0
    if worse:
        text += f" Far more samples than new patients' scans: the generator copies {image}s."
    return (Paragraph(text, "warn" if worse else ""),
            Figure("pairs", f"the closest samples (top) over their nearest {image}s (bottom)"))


MEMBERSHIP_BETTER = "closer to chance (AUC 0.5, TPR = FPR)"


def _percent(fpr: str) -> str:
    return f"{float(fpr):.1%}".replace(".0%", "%")


def membership_rows(values: Mapping[str, Any]) -> list[Row]:
    """Per attack: its ROC AUC and its TPR at each low FPR (with their bootstrap intervals); a
    rate the non-member count cannot resolve reads "n/a"."""
    rows = []
    for attack, result in (values.get("attacks") or {}).items():
        rows.append(Row(f"{attack}.auc", fmt(result["auc"]), MEMBERSHIP_BETTER,
                        interval=_span(result.get("auc_interval"))))
        for fpr, tpr in (result.get("tpr_at_fpr") or {}).items():
            rows.append(Row(f"{attack}.tpr_at_{_percent(fpr)}_fpr", "n/a" if tpr is None else fmt(tpr),
                            MEMBERSHIP_BETTER, interval=_span((result.get("tpr_interval") or {}).get(fpr))))
    return rows


def _span(interval: list[float] | None) -> str:
    return f"{fmt(interval[0])} – {fmt(interval[1])}" if interval else ""


def membership_headline(values: Mapping[str, Any]) -> tuple[Block, ...]:
    """One sentence per attack against chance; a warning when its interval lies above chance."""
    blocks = []
    for attack, result in (values.get("attacks") or {}).items():
        low, high = result["auc_interval"]
        above = low > 0.5
        blocks.append(Paragraph(
            f"Membership attack '{attack}': ROC AUC {result['auc']:.2f} (95% interval {low:.2f} to {high:.2f}) at "
            f"telling the {result['n_members']} training scans from {result['n_nonmembers']} held-out ones, "
            "using only what the generator gives; chance is 0.5."
            + (" Above chance: an attacker can tell which patients were in the training set." if above else
               " Within chance of 0.5 at this number of scans."), "warn" if above else ""))
    return tuple(blocks)


def utility_headline(values: Mapping[str, Any]) -> tuple[Block, ...]:
    """The study's verdict; a warning when the real-only classifier has not learned the task."""
    if "verdict" not in values:
        return ()
    return (Paragraph(f"Utility study: {values['verdict']}", "" if values.get("beats_majority") else "warn"),)
