"""A run's result as the plain text ``lifelong run`` prints."""
from __future__ import annotations


def format_result(result) -> str:
    """The accuracy matrix (test MSE in a regression stream) and the main metrics as a plain-text table.
    Streams of more than 12 tasks show the first and last rows and columns only; "-" marks a score not
    measured (``--matrix-every``)."""
    from lifelong.evaluation.measures import measure

    R, ms = result.accuracy_matrix, measure(result.metric)
    T, fmt = len(R), ms.format
    cols = list(range(T)) if T <= 12 else [*range(6), *range(T - 6, T)]
    lines = [f"{result.strategy} on {result.scenario} ({result.setting}), seed {result.seed}",
             f"{ms.label}{f' ({ms.unit})' if ms.unit else ''} on each task (columns) after training on each task "
             "(rows):",
             "            " + "".join(f"  task{j + 1:<2d}" for j in cols)]
    lines.append("  random    " + "".join(f"  {fmt(result.random_init_accuracy[j])}" for j in cols))
    for i in cols:
        lines.append(f"  after {i + 1:<3d} " + "".join(f"  {'-'.rjust(6) if R[i][j] is None else fmt(R[i][j])}"
                                                      for j in cols))
    m = result.metrics
    lines.append("")
    lines.append(f"  {ms.metric(ms.headline).label} {fmt(m.get(ms.headline))}   BWT {fmt(m.get('bwt'))}   "
                 f"FWT {fmt(m.get('fwt'))}   forgetting {fmt(m.get('forgetting'))}   ({ms.legend})")
    if m.get("lca") is not None:
        lines.append(f"  LCA {fmt(m['lca'])}   (A-GEM, first {result.extra.get('lca_beta')} mini-batches, %)")
    for key, label in (("fewshot_at_arrival", "at each task's arrival (tasks after the first)"),
                       ("fewshot_held_out", "on held-out tasks after the stream")):
        if m.get(key):
            shots = "   ".join(f"{k}-shot {fmt(v)}" for k, v in m[key].items())
            lines.append(f"  few-shot {ms.unit or ms.symbol} {label}: {shots}")
    if m.get("online_acc") is not None:
        modes = "   ".join(f"{k[len('online_acc_'):]} {fmt(v)}" for k, v in m.items()
                           if k.startswith("online_acc_") and v is not None)
        lines.append(f"  online accuracy {fmt(m['online_acc'])}   (each incoming batch before it is learned, %)"
                     + (f"; by mode: {modes}" if modes else ""))
    if m.get("min_acc") is not None:
        window = result.extra["continual"]["window"]
        lines.append(f"  continual evaluation: min-ACC {fmt(m['min_acc'])}   WC-ACC {fmt(m['wc_acc'])}   "
                     f"WF{window} {fmt(m[f'wf{window}'])}   WP{window} {fmt(m[f'wp{window}'])}   "
                     f"AAA {fmt(m['aaa'])}   (De Lange et al. 2023; AAA: Koh et al. 2022; every "
                     f"{result.extra['continual']['every']} steps, %)")
    pretrained = f"pretrained in {result.timings['pretrain_s']:.1f}s, " if "pretrain_s" in result.timings else ""
    lines.append(f"  {pretrained}trained in {sum(result.timings['train_s']):.1f}s, evaluated in {sum(result.timings['eval_s']):.1f}s"
                 f" on {result.device}")
    return "\n".join(lines)
