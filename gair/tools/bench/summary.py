"""The human-readable table ``python -m gair bench`` prints without ``--json``."""

from __future__ import annotations

from typing import Any


def _num(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _flops(value: float) -> str:
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if value >= scale:
            return f"{value / scale:.3g} {prefix}FLOP"
    return f"{value:.3g} FLOP"


def _speed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def format_report(r: dict[str, Any]) -> str:
    """The human-readable table printed without ``--json``."""
    c = r["config"]
    shape = "x".join(str(d) for d in c["dataset_shape"])
    options = ", ".join(
        name for name, on in (("channels-last", c["channels_last"]), ("compile", c["compile"]),
                              ("cudnn.benchmark", c["cudnn_benchmark"])) if on
    ) or "eager"  # fmt: skip
    shape_args = [f"{k} {c[k]}" for k in ("depth", "width") if c[k] is not None]
    model = c["model"] + (f" ({', '.join(shape_args)})" if shape_args else "")
    lines = [
        f"gair bench: {model} / {c['method']}, batch {c['batch_size']}, K = {c['steps']}, "
        f"{shape}, {c['classes']} classes",
        f"device: {c['device']} ({c['device_name']}), {c['threads']} threads, "
        f"amp {c['amp']}, {options}, torch {c['torch']}",
        f"timing: {r['timing']['clock']}, median of {c['iters']} after {c['warmup']} warm-up",
        "",
        f"{'':<28}{'ours img/s':>12}{'reference img/s':>18}{'ours/ref':>10}",
    ]
    for label, key in (("training step", "train_step"), ("attack alone", "attack")):
        row = r[key]
        lines.append(
            f"{label:<28}{_num(row['images_per_s']):>12}"
            f"{_num(row['reference_images_per_s']):>18}{_speed(row['speedup']):>10}"
        )
    lines.append(f"{'PGD-20 evaluation':<28}{_num(r['pgd20_eval']['images_per_s']):>12}")
    e = r["early_stopped_pgd"]
    lines += [
        "",
        f"early-stopped PGD-{c['steps']}-{e['tau']}: masked "
        f"{_num(e['masked']['images_per_s'])} img/s, compact "
        f"{_num(e['compact']['images_per_s'])} img/s, compact/masked {_speed(e['speedup'])}, "
        f"identical results: {'yes' if e['identical'] else 'no'}",
    ]
    k = r["kappa_check"]
    if k is None:
        lines.append("identical kappa: n/a (the method's attack is not GA-PGD)")
    else:
        lines.append(
            f"identical kappa: {'yes' if k['identical_kappa'] else 'no'} (x_adv identical: "
            f"{'yes' if k['identical_x_adv'] else 'no'}; kappa mean {k['kappa_mean']:.2f}, "
            f"{k['kappa_distinct']} distinct values)"
        )
    f = r["flops"]
    ref = f["reference_train_step_per_image"]
    lines.append(
        f"FLOPs per image: forward {_flops(f['forward_per_image'])}, training step "
        f"{_flops(f['train_step_per_image'])}"
        + ("" if ref is None else f" (reference {_flops(ref)})")
    )
    p = r["peak"]
    if p["fraction_of_peak"] == "unknown":
        lines.append(
            f"achieved {p['achieved_tflops']:.3f} TFLOP/s; fraction of peak: unknown "
            "(no peak on record for this device)"
        )
    else:
        lines.append(
            f"achieved {p['achieved_tflops']:.2f} TFLOP/s = {100 * p['fraction_of_peak']:.1f}% "
            f"of {p['device']} dense {p['precision']} peak {p['peak_tflops']} TFLOP/s "
            f"({p['source']})"
        )
    return "\n".join(lines)
