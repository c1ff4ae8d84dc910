"""Which relation's class graph agrees with reality (issue 14).

``python bench/graph.py digits``: every relation of ``budgetplan graph`` on the digits recipe
data (train split, as the command computes them) against how classifiers actually confuse the
digits: 5-fold cross-validated predictions on all 1,797 images (every image predicted by a model
that never saw it) of a logistic regression and a small MLP on the same pixel embeddings;
confusion = share of class-a images predicted b ("hard") or mean predicted probability of b on
class-a images ("soft"), symmetrised. Spearman's rho over the 45 pairs, and whether each
relation's default graph (top-2 neighbours) communities match the reference's.

``python bench/graph.py demo``: on the embedded default, each embedding relation against label
co-occurrence (phi and PMI of the training labels) and against the class directions the
simulation planted (the Gram matrix of ``simulate_latent``, built from phi), over the 91 pairs;
the origin-shifted class means of the simulation's latent (before the random map) give the
ceiling a class-mean relation can reach on these features.

``--adapter-grid``: the adapter settings compared (epochs, hidden, encoding lr).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from budgetplan.relations.graph_inputs import GraphInputs, graph_inputs
from budgetplan.relations.task_encoding import AdapterRelationConfig

DIGIT_RELATIONS = (
    "knn-lift",
    "knn-share",
    "adapter",
    "prototype-mean",
    "prototype-median",
    "cooccurrence",
)
DEMO_RELATIONS = ("knn-lift", "knn-share", "adapter", "prototype-mean", "prototype-median")


def extra_rows(data: GraphInputs) -> list[tuple[str, np.ndarray]]:
    """Same-run variants: the adapter's plain (unshifted) encoding cosines next to the shifted
    default, from the same trained q."""
    from budgetplan.relations.task_encoding import encoding_similarity

    if data.encodings is None or data.encodings.q is None:
        return []
    plain = encoding_similarity(data.encodings.q, shift_origin=False).mean(axis=0)
    return [("adapter, plain cosine of q (before)", plain)]


def markdown(rows: list[dict]) -> str:
    """A markdown table of dict rows (columns in first-seen order)."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(out)


def pairs(m: np.ndarray) -> np.ndarray:
    """Off-diagonal upper-triangle values of the symmetrised matrix."""
    a = np.asarray(m, dtype=float)
    a = (a + a.T) / 2
    return a[np.triu_indices(len(a), 1)]


def confusions(seed: int = 0) -> dict[str, np.ndarray]:
    """Held-out confusion of logistic regression and an MLP on the digits pixels."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.neural_network import MLPClassifier

    from budgetplan.planner.sources import digits_data

    d = digits_data()
    x, lab = d.vectors, d.labels.values.argmax(axis=1)
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    models = {
        "logreg": LogisticRegression(max_iter=2000),
        "mlp": MLPClassifier((64,), max_iter=600, random_state=seed),
    }
    out = {}
    for name, model in models.items():
        proba = cross_val_predict(model, x, lab, cv=cv, method="predict_proba")
        pred = proba.argmax(axis=1)
        hard = np.stack(
            [np.bincount(pred[lab == a], minlength=10) / (lab == a).sum() for a in range(10)]
        )
        soft = np.stack([proba[lab == a].mean(axis=0) for a in range(10)])
        out[f"{name} hard"] = hard
        out[f"{name} soft"] = soft
        print(
            f"{name}: held-out accuracy {(pred == lab).mean():.3f}, "
            f"{int((pairs(hard) > 0).sum())}/45 pairs ever confused"
        )
    return out


def graph_agreement(matrix: pd.DataFrame, reference: np.ndarray) -> tuple[float, float]:
    """Jaccard overlap of the default (top-2) edge sets and adjusted Rand index of the
    communities, between a relation's graph and the reference confusion's graph."""
    from sklearn.metrics import adjusted_rand_score

    from budgetplan.relations import graph

    ref = pd.DataFrame(reference, index=matrix.index, columns=matrix.columns)
    g, h = graph.class_graph(matrix, "relation"), graph.class_graph(ref, "confusion")
    e, f = {frozenset(x) for x in g.edges}, {frozenset(x) for x in h.edges}
    cg, ch = graph.community_of(g), graph.community_of(h)
    names = list(matrix.index)
    ari = adjusted_rand_score([cg[n] for n in names], [ch[n] for n in names])
    return len(e & f) / max(len(e | f), 1), float(ari)


def run_digits(args: argparse.Namespace) -> None:
    refs = confusions()
    rows = []
    for rel in DIGIT_RELATIONS:
        t0 = time.perf_counter()
        data = graph_inputs("digits", rel)
        secs = time.perf_counter() - t0
        row = {"relation": rel, "seconds": round(secs, 1)}
        v = pairs(data.matrix.to_numpy())
        for name, ref in refs.items():
            rho = spearmanr(v, pairs(ref))[0] if np.unique(v).size > 1 else float("nan")
            row[name] = round(float(rho), 3)
        for name in ("logreg soft", "mlp soft") if np.unique(v).size > 1 else ():
            jac, ari = graph_agreement(data.matrix, refs[name])
            row[f"edges Jaccard ({name})"] = round(jac, 2)
            row[f"communities ARI ({name})"] = round(ari, 2)
        if data.encodings is not None:
            row["draw stability"] = round(data.encodings.stability, 3)
            row["max abs(q-I)"] = round(float(np.median(data.encodings.movement)), 3)
        rows.append(row)
        for label, m in extra_rows(data):
            v = pairs(m)
            rows.append(
                {"relation": label}
                | {n: round(float(spearmanr(v, pairs(r))[0]), 3) for n, r in refs.items()}
            )
        for note in data.notes:
            print(f"  [{rel}] {note}")
    names = [str(c) for c in range(10)]
    jac, ari = graph_agreement(pd.DataFrame(refs["mlp soft"], names, names), refs["logreg soft"])
    rows.append(
        {
            "relation": "(mlp soft confusion, the other reference)",
            "logreg hard": round(
                float(spearmanr(pairs(refs["mlp soft"]), pairs(refs["logreg hard"]))[0]), 3
            ),
            "logreg soft": round(
                float(spearmanr(pairs(refs["mlp soft"]), pairs(refs["logreg soft"]))[0]), 3
            ),
            "edges Jaccard (logreg soft)": round(jac, 2),
            "communities ARI (logreg soft)": round(ari, 2),
        }
    )
    print(markdown(rows))


def run_adapter_grid(args: argparse.Namespace) -> None:
    refs = confusions()
    grid = [
        (
            "6 ep, hidden 256 (before)",
            AdapterRelationConfig(
                epochs=6, hidden=256, batch_size=512, patience=3, seeds=(0, 1, 2)
            ),
        ),
        ("30 ep, hidden 256", AdapterRelationConfig(hidden=256)),
        ("30 ep, hidden 256, q lr 1e-2", AdapterRelationConfig(hidden=256, encoding_lr=1e-2)),
        ("30 ep, hidden 64 (default)", AdapterRelationConfig()),
        ("30 ep, hidden 64, q lr 3e-3", AdapterRelationConfig(encoding_lr=3e-3)),
        ("30 ep, hidden 32", AdapterRelationConfig(hidden=32)),
    ]
    rows = []
    for label, cfg in grid:
        t0 = time.perf_counter()
        data = graph_inputs("digits", "adapter", adapter_config=cfg)
        assert data.encodings is not None
        v = pairs(data.matrix.to_numpy())
        rows.append(
            {
                "setting": label,
                "max abs(q-I)": round(float(np.median(data.encodings.movement)), 3),
                "draw stability": round(data.encodings.stability, 3),
                "val AUC": round(float(np.median(data.encodings.best_val)), 3),
                **{n: round(float(spearmanr(v, pairs(r))[0]), 3) for n, r in refs.items()},
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
        print(rows[-1], flush=True)
    print(markdown(rows))


def demo_references(store: str | None) -> dict[str, np.ndarray]:
    """phi and PMI of the training labels, the planted Gram matrix of the class directions, and
    the origin-shifted class means of the latent (the ceiling of class-mean relations)."""
    from budgetplan.data.simulate_embeddings import LatentModel, simulate_latent
    from budgetplan.dataset import open_dataset

    ds = open_dataset(store)
    rows = np.flatnonzero(ds.labels.split == "train")
    refs = {"phi": graph_inputs(store, "phi").matrix.to_numpy()}
    refs["pmi"] = graph_inputs(store, "pmi").matrix.to_numpy()
    manifest = ds.embeddings.manifest  # the stored table reproduces the vectors (max diff 7e-9)
    latent = simulate_latent(
        ds.labels, LatentModel(**manifest["latent_model"]), seed=int(manifest["seed"])
    )
    refs["planted"] = latent.gram
    z, y = latent.z[rows], ds.labels.values[rows]
    means = np.stack([(z[y[:, c] == 1] - z.mean(0)).mean(0) for c in range(y.shape[1])])
    unit = means / np.linalg.norm(means, axis=1, keepdims=True)
    refs["latent prototypes"] = unit @ unit.T
    return refs


def rho_row(v: np.ndarray, refs: dict[str, np.ndarray]) -> dict[str, float]:
    out = {}
    for name, ref in refs.items():
        ok = np.isfinite(v) & np.isfinite(pairs(ref))
        out[f"rho vs {name}"] = round(float(spearmanr(v[ok], pairs(ref)[ok])[0]), 3)
    return out


def run_demo(args: argparse.Namespace) -> None:
    from budgetplan.relations.graph_inputs import rank_note

    refs = demo_references(args.store)
    rows = [{"relation": f"(reference) {n}"} | rho_row(pairs(m), refs) for n, m in refs.items()]
    names = list(graph_inputs(args.store, "phi").matrix.index)
    for n in ("pmi", "planted"):
        jac, ari = graph_agreement(pd.DataFrame(refs[n], names, names), refs["phi"])
        rows[list(refs).index(n)]["edges Jaccard / communities ARI vs phi graph"] = (
            f"{jac:.2f} / {ari:.2f}"
        )
    print(markdown(rows), flush=True)
    for rel in DEMO_RELATIONS:
        t0 = time.perf_counter()
        data = graph_inputs(args.store, rel)
        v = pairs(data.matrix.to_numpy())
        row = {"relation": rel, "seconds": round(time.perf_counter() - t0, 1)}
        row["pair range"] = f"{np.nanmin(v):.2f} .. {np.nanmax(v):.2f}"
        row |= rho_row(v, refs)
        jac, ari = graph_agreement(data.matrix, refs["phi"])
        row["edges Jaccard / communities ARI vs phi graph"] = f"{jac:.2f} / {ari:.2f}"
        if data.encodings is not None:
            row["draw stability"] = round(data.encodings.stability, 3)
            row["max abs(q-I)"] = round(float(np.median(data.encodings.movement)), 3)
        rows.append(row)
        for label, m in extra_rows(data):
            w = pairs(m)
            rows.append(
                {"relation": label, "pair range": f"{np.nanmin(w):.2f} .. {np.nanmax(w):.2f}"}
                | rho_row(w, refs)
            )
        print(row, rank_note(data.matrix, rel) or "", flush=True)
    # the median prototype without the origin shift (the relations table before issue 14)
    from budgetplan.dataset import open_dataset
    from budgetplan.relations.prototypes import cosine_matrix, prototypes

    ds = open_dataset(args.store)
    train = np.flatnonzero(ds.labels.split == "train")
    plain = prototypes(ds.vectors, ds.labels.values, kind="median", shift_origin=False, rows=train)
    v = pairs(cosine_matrix(plain))
    rows.append(
        {
            "relation": "prototype-median, plain (before)",
            "pair range": f"{np.nanmin(v):.2f} .. {np.nanmax(v):.2f}",
        }
        | rho_row(v, refs)
    )
    print(markdown(rows))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["digits", "demo"])
    p.add_argument("--store", default="demo")
    p.add_argument("--adapter-grid", action="store_true")
    args = p.parse_args()
    if args.what == "digits":
        (run_adapter_grid if args.adapter_grid else run_digits)(args)
    else:
        run_demo(args)


if __name__ == "__main__":
    main()
