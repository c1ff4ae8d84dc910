"""``StudyPlanner``: the annotation plan of one study in the making, step by step.

Built from a validated :class:`~budgetplan.config.RecommendConfig` and the study's data, it
prepares once what every step shares (the reduced simulation problem, the base state, the cost
model, the candidates sized to the budget, the runner) and then runs the steps:

1. ``StudyPlanner(config, data)``: load and check (bad targets, costs and budgets raise here,
   before any training); score every candidate class with the cheap relations (``screen``; the
   pool's kNN from ``neighbours.pool_knn``); add "annotate more target images" when the base
   holds fewer target positives than the data; size each candidate to the budget;
2. :meth:`~StudyPlanner.simulate`: a race over draws of the study (``draws``, ``allocation``),
   paired against the baseline, a decoy of random labels beside the candidates, gains called
   significant under Benjamini-Hochberg over the candidates; then the gain predictor
   (``predictor``) orders the untrained;
3. :meth:`~StudyPlanner.select`: greedy forward selection with real training (``selection``);
4. :meth:`~StudyPlanner.control`: a random choice of equal cost, trained the same way;
5. :meth:`~StudyPlanner.make_plan`: the :class:`AnnotationPlan` (``blocks`` builds its parts).

:meth:`~StudyPlanner.recommend` runs 2-5 and returns a :class:`Recommendation`.

Loss weighting (``train.reduction``): ``class-sum`` keeps the target's weight fixed as classes
are added, ``entry-mean`` dilutes it (a plain mean over annotated entries). The recipes default
to the one measured better on their data; see bench/README.md.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from budgetplan.config import RecommendConfig
from budgetplan.data.label_table import LabelTable
from budgetplan.errors import BudgetplanError
from budgetplan.planner import blocks
from budgetplan.planner.allocation import Evidence, race
from budgetplan.planner.assembly import ANNOTATE_CLASS, ANNOTATE_TARGET
from budgetplan.planner.cache import RunCache
from budgetplan.planner.costs import CostModel
from budgetplan.planner.draws import Draws
from budgetplan.planner.executor import ProcessExecutor, executor_for
from budgetplan.planner.plan import AnnotationPlan
from budgetplan.planner.predictor import PredictorReport, fit_predictor, predict_gains
from budgetplan.planner.prepared import PreparedCache, prepared_key
from budgetplan.planner.problem import DECOY, SimProblem, prepare_problem, with_decoy
from budgetplan.planner.runner import JobFn, Runner, RunResult, execute_job
from budgetplan.planner.screen import RELATIONS, relation_scores
from budgetplan.planner.selection import (
    DECOY_KIND,
    Candidate,
    GreedyStep,
    RandomControl,
    Single,
    SizedSet,
    Sizer,
    check_budget_buys,
    greedy_select,
    random_control,
)
from budgetplan.planner.stats import benjamini_hochberg
from budgetplan.progress import ProgressFn

if TYPE_CHECKING:
    from budgetplan.dataset import Dataset

DEFAULT_SCREEN_RELATION = "prototype-mean"


@dataclass
class Recommendation:
    """The plan plus what the terminal shows around it."""

    plan: AnnotationPlan
    table: pd.DataFrame
    predictor: PredictorReport
    simulated: bool
    data_name: str
    runs_trained: int
    runs_cached: int
    seconds: float
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Simulation:
    """What :meth:`StudyPlanner.simulate` measured: the ranked table, the baseline's runs, the
    predictor and each trained candidate's evidence."""

    table: pd.DataFrame
    base_runs: list[RunResult]
    predictor: PredictorReport
    evidence: dict[Candidate, Evidence]


def load_cost_model(config: RecommendConfig, classes: list[str]) -> CostModel:
    """The cost file (``--cost-file``) over the recipe's ``costs``; unknown classes are errors."""
    if config.cost_file:
        return CostModel.from_csv(config.cost_file, classes)
    return CostModel.from_mapping(
        dict(config.costs) or None, classes, where=f"recipe {config.recipe}: costs"
    )


def class_candidates(
    labels: LabelTable, classes: list[str], per_source: bool = True
) -> list[Candidate]:
    """ "Annotate class c" for each class with training positives; per source x class when the
    class is labelled (has training positives) in several sources and ``per_source`` is set
    (DESIGN.md: "for several sources, each source x class"), e.g. "Effusion @ nih" and
    "Effusion @ chexpert", so the plan can say on which images a class is worth buying."""
    train = labels.split == "train"
    source = np.asarray(labels.source).astype(str)
    out: list[Candidate] = []
    for c in classes:
        pos = train & (labels.column(c) == 1)
        if not pos.any():
            continue
        sources = sorted(set(source[pos].tolist()))
        if per_source and len(sources) > 1:
            out.extend(Candidate(c, source=s) for s in sources)
        else:
            out.append(Candidate(c))
    return out


class StudyPlanner:
    """The plan of one study in the making (see the module doc)."""

    def __init__(
        self,
        config: RecommendConfig,
        data: Dataset,
        *,
        cache: RunCache | None = None,
        job_fn: JobFn = execute_job,
        progress: ProgressFn | None = None,
        prepared: PreparedCache | None = None,
    ) -> None:
        self.config = config
        self.data = data
        self.notes: list[str] = []
        target = config.target or data.default_target
        if not target:
            raise BudgetplanError("no target given (--target) and the data names no default target")
        labels = data.labels
        labels.class_index(target)  # unknown target: error with close names, before any work
        self.cost_model = load_cost_model(config, labels.classes)
        self.prepared = prepared if prepared is not None else prepared_cache(cache)
        stage = _stages(progress, SETUP_STAGES)
        stage("the simulation problem (pool, validation, test, PCA)")
        self.problem: SimProblem = prepare_problem(
            labels,
            data.vectors,
            target,
            config.simulation,
            seed=config.seed,
            data_checksum=data.checksum,
            simulated=data.simulated,
            cache=self.prepared,
        )
        self._note_pool()
        n_dropped = self._n_dropped()
        executor = executor_for(
            config.simulation,
            config.device,
            config.train.threads or 1,
            train_rows=len(self.problem.train_ids),
            job_fn=job_fn,
        )
        warm = self.prepared.hits > 0 and self.prepared.misses == 0
        if isinstance(executor, ProcessExecutor) and not warm:
            # the workers' fork server imports torch while the set-up below runs (if the demo
            # build has not started it already); a set-up found in the prepared
            # cache most likely has its runs cached too, so its workers start only if a round
            # trains (a warm run then never pays for them: bench/README.md, "recommend.py")
            executor.start()
        stage("nearest neighbours of the pool")
        knn = self._pool_knn()
        stage("relations of every class to the target")
        self.relations = self._relations(knn)
        candidates = class_candidates(
            labels, list(self.relations["class"]), config.simulation.per_source
        )
        if n_dropped:
            candidates.append(Candidate(self.problem.target, ANNOTATE_TARGET))
        if config.simulation.decoy:
            self.problem = with_decoy(self.problem, self._typical_prevalence(), config.seed)
            candidates.append(Candidate(DECOY, DECOY_KIND))
        stage("draw 0 of the study: kept positives, image orders")
        self.draws = Draws(
            self.problem,
            labels,
            candidates,
            knn=knn,
            target_positives=config.target_positives,
            seed=config.seed,
            redraw_split=config.simulation.redraw_split,
        )
        first = self.draws.draw(0)
        stage("sizing every candidate to the budget")
        self.base = first.base
        self.sizer = Sizer(self.problem, first.base, first.orders, self.cost_model, config.budget)
        sized = {c: self.sizer.size([c]) for c in candidates}
        check_budget_buys(list(sized.values()), self.sizer)
        self.sized: dict[Candidate, SizedSet] = {
            c: s for c, s in sized.items() if self.sizer.buys_pool_image(s)
        }
        self.negatives, self.trained = self._screen()
        stage("ready to train")
        self.runner = Runner(
            self.problem,
            config.train,
            cache=cache,
            executor=executor,
            max_replicas=config.simulation.max_replicas,
            job_fn=job_fn,
            progress=progress,
        )

    # ------------------------------------------------------------------ set-up steps
    def _note_pool(self) -> None:
        labels, problem = self.data.labels, self.problem
        n_train_all = int(np.sum(labels.split == "train"))
        if problem.pool_rows is not None and len(problem.pool_rows) < n_train_all:
            self.notes.append(
                f"trained on a pool of {len(problem.pool_rows):,} of the {n_train_all:,} "
                "training images (simulation.pool_images): on the demo the decision matched a "
                "full-size run but the order of the negative classes did not (bench/README.md), "
                "so read that order as a screen; and its CIs cover new draws on THIS pool, not "
                "another pool (on nih-nodule-quick, gains of runs with other pools vary about "
                "twice as much as the CIs allow); pool_images: null (as in the default recipe "
                "nih-nodule) trains on every training image"
            )

    def _n_dropped(self) -> int:
        """How many training target positives each draw hides (``--target-positives``)."""
        problem, wanted = self.problem, self.config.target_positives
        n_pos = int(np.nansum(problem.y_train[:, problem.target_index] == 1))
        if wanted is not None and wanted >= n_pos:
            self.notes.append(
                f"--target-positives {wanted} >= the {n_pos} training positives: all kept"
            )
        return 0 if wanted is None else max(0, n_pos - wanted)

    def _typical_prevalence(self) -> float:
        """The decoy's prevalence: the median training prevalence of the other classes."""
        y, t = self.problem.y_train, self.problem.target_index
        prev = [float(np.nanmean(y[:, c])) for c in range(y.shape[1]) if c != t]
        prev = [p for p in prev if np.isfinite(p) and p > 0]
        return float(np.median(prev)) if prev else 0.1

    def _pool_knn(self) -> np.ndarray:
        """The pool's k = 10 neighbour lists: the store's cached kNN on full vectors, or exact
        search in a PCA-reduced pool for the target's positives, the only lists the planner reads
        (kept in the prepared cache, keyed on the problem)."""
        from budgetplan.planner.neighbours import pool_knn, uses_store

        problem, store = self.problem, self.data.embeddings
        if uses_store(problem, store):  # the store caches its own kNN
            return pool_knn(problem, store, k=KNN_K)[1]
        positives = np.flatnonzero(problem.y_train[:, problem.target_index] == 1)
        got = self.prepared.get_or_compute(
            "knn",
            prepared_key(
                "knn", {"problem": problem.checksum, "k": KNN_K, "queries": "target-positives"}
            ),
            lambda: {"knn": pool_knn(problem, None, k=KNN_K, queries=positives)[1]},
            {"knn": (len(problem.train_ids), KNN_K)},
        )
        return got["knn"]

    def _relations(self, knn: np.ndarray) -> pd.DataFrame:
        """``relation_scores`` of every class to the target (kept in the prepared cache)."""
        problem, labels = self.problem, self.data.labels

        def compute() -> dict[str, np.ndarray]:
            df = relation_scores(
                labels,
                self.data.vectors,
                problem.target,
                pool_x=problem.x_train,
                pool_y=problem.y_train,
                seed=self.config.seed,
                knn_indices=knn,
            )
            out = {str(col): df[col].to_numpy() for col in df.columns}
            out["class"] = out["class"].astype(str)  # a unicode array: no pickle in the file
            return out

        n = labels.n_classes - 1
        columns = ["class", *RELATIONS, "train_positives"]
        key = prepared_key(
            "relations",
            {
                "problem": problem.checksum,
                "knn": hashlib.sha256(np.ascontiguousarray(knn).tobytes()).hexdigest()[:16],
                "seed": self.config.seed,
            },
        )
        got = self.prepared.get_or_compute("relations", key, compute, {c: (n,) for c in columns})
        return pd.DataFrame({c: got[c] for c in columns})

    def _screen(self) -> tuple[list[Candidate], list[Candidate]]:
        """Negative-class candidates ordered by the screen relation; the ones to train."""
        relation = self.config.screen_relation or DEFAULT_SCREEN_RELATION
        if relation not in RELATIONS:
            raise BudgetplanError(
                f"screen_relation {relation!r} is not one the planner computes: "
                f"{', '.join(RELATIONS)}"
            )
        by_class = self.relations.set_index("class")
        negatives = sorted(
            [c for c in self.sized if c.kind == ANNOTATE_CLASS],
            key=lambda c: -_finite_or_low(by_class.loc[c.class_name, relation]),
        )
        limit = self.config.simulation.max_candidates
        trained = negatives[:limit] if limit else list(negatives)
        trained += [c for c in self.sized if c.kind in (ANNOTATE_TARGET, DECOY_KIND)]
        return negatives, trained

    def close(self) -> None:
        """Stop the worker processes a process executor started (they also stop at exit)."""
        close = getattr(self.runner.executor, "close", None)
        if isinstance(self.runner.executor, ProcessExecutor) and close is not None:
            close()

    def __enter__(self) -> StudyPlanner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ steps
    def simulate(self) -> Simulation:
        """The race over draws, then the predictor (module doc, step 2)."""
        config = self.config
        sim = config.simulation
        base_runs, evidence = race(
            self.runner,
            self.draws,
            self.sizer.size([]),
            [self.sized[c] for c in self.trained],
            initial_seeds=sim.initial_seeds,
            max_seeds=config.max_seeds,
            eta=sim.eta,
            alpha=config.selection.alpha,
            min_gain=config.selection.min_gain,
            confirm_seeds=sim.confirm_seeds,
        )
        q_values = benjamini_hochberg([e.stats.p_value for e in evidence])
        for ev, q in zip(evidence, q_values, strict=True):
            ev.stats = dataclasses.replace(ev.stats, q_value=q)
        ev_by = dict(zip(self.trained, evidence, strict=True))
        by_class = self.relations.set_index("class")
        measured = [c for c in self.trained if c.kind == ANNOTATE_CLASS]
        feats = by_class.loc[[c.class_name for c in measured]].reset_index()
        gains = [ev_by[c].gain for c in measured]
        rel_cols = [r for r in RELATIONS if by_class[r].notna().any()]
        report = fit_predictor(feats, gains, rel_cols)
        untrained = [c for c in self.negatives if c not in ev_by]
        predicted = predict_gains(
            report,
            feats,
            gains,
            by_class.loc[[c.class_name for c in untrained]].reset_index(),
            rel_cols,
        )
        rows = [self._measured_row(c, ev_by[c], rel_cols) for c in self.trained]
        rows += [
            self._predicted_row(c, float(g), rel_cols)
            for c, g in zip(untrained, predicted, strict=True)
        ]
        return Simulation(blocks.ranked_table(rows), base_runs, report, ev_by)

    def select(self, simulation: Simulation) -> list[GreedyStep]:
        """Greedy forward selection over the significant singles (module doc, step 3)."""
        singles = [
            Single(c, self.sized[c], simulation.evidence[c])
            for c in self.trained
            if c.kind != DECOY_KIND
        ]
        return greedy_select(
            self.runner,
            self.sizer,
            self.draws,
            simulation.base_runs,
            singles,
            seeds=self.config.max_seeds,
            selection=self.config.selection,
        )

    def control(self, simulation: Simulation, n_classes: int) -> RandomControl:
        """Random class sets of the plan's size and cost (module doc, step 4)."""
        return random_control(
            self.runner,
            self.sizer,
            self.draws,
            simulation.base_runs,
            list(self.sized),
            n_classes=n_classes,
            seeds=self.config.max_seeds,
            n_sets=self.config.selection.random_draws,
            seed=self.config.seed,
            alpha=self.config.selection.alpha,
        )

    def make_plan(
        self, simulation: Simulation, steps: list[GreedyStep], control: RandomControl
    ) -> AnnotationPlan:
        """The :class:`AnnotationPlan` of the chosen steps beside the control (step 5)."""
        return blocks.build_plan(self, simulation, steps, control)

    def recommend(self) -> Recommendation:
        """Steps 2-5: the plan with its ranked table."""
        t0 = time.perf_counter()
        simulation = self.simulate()
        steps = self.select(simulation)
        chosen = list(steps[-1].sized.members) if steps else []
        control = self.control(simulation, len(chosen))
        table = simulation.table
        table["chosen"] = table["class"].isin({c.label for c in chosen})
        plan = self.make_plan(simulation, steps, control)
        return Recommendation(
            plan=plan,
            table=table,
            predictor=simulation.predictor,
            simulated=self.data.simulated,
            data_name=self.data.name,
            runs_trained=self.runner.n_trained,
            runs_cached=self.runner.n_cached,
            seconds=time.perf_counter() - t0,
            notes=self.notes,
        )

    # ------------------------------------------------------------------ table rows
    def _relation_values(self, c: Candidate, rel_cols: list[str]) -> dict[str, float]:
        if c.kind != ANNOTATE_CLASS:
            return dict.fromkeys(rel_cols, float("nan"))
        rel = self.relations.set_index("class").loc[c.class_name]
        return {r: float(rel[r]) for r in rel_cols}

    def _measured_row(self, c: Candidate, ev: Evidence, rel_cols: list[str]) -> blocks.Row:
        st, sized = ev.stats, self.sized[c]
        return blocks.Row(
            candidate=c,
            relations=self._relation_values(c, rel_cols),
            stats=st,
            runs=ev.n_runs,
            significant=st.significant(self.config.selection.alpha, self.config.selection.min_gain),
            n_images=sized.n_images,
            cost=sized.cost,
        )

    def _predicted_row(self, c: Candidate, gain: float, rel_cols: list[str]) -> blocks.Row:
        sized = self.sized[c]
        return blocks.Row(
            candidate=c,
            relations=self._relation_values(c, rel_cols),
            stats=blocks.predicted_stats(gain),
            runs=0,
            significant=False,
            n_images=sized.n_images,
            cost=sized.cost,
            predicted=True,
        )


SETUP_STAGES = 5
KNN_K = 10


def prepared_cache(cache: RunCache | None) -> PreparedCache:
    """The prepared-problem cache, ``cache_dir()/prepared``; off when the run cache is
    (``--no-cache``)."""
    from budgetplan.paths import cache_dir

    return PreparedCache(cache_dir() / "prepared", enabled=cache is None or cache.enabled)


def _stages(progress: ProgressFn | None, total: int) -> Callable[[str], None]:
    """``stage(message)``: report set-up step k of ``total`` (its own bar, with an ETA)."""
    done = 0

    def stage(message: str) -> None:
        nonlocal done
        if progress is not None:
            progress(done, total, f"set-up: {message}")
        done += 1

    return stage


def _finite_or_low(x: float) -> float:
    return float(x) if np.isfinite(x) else -math.inf
