"""``budgetplan labelstudio push|pull``: send a plan to a running Label Studio, fetch its
answers."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from budgetplan.commands.export import add_labelstudio_arguments, load_plan

TOKEN_ENV = "LABEL_STUDIO_API_KEY"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "labelstudio",
        help="create a Label Studio project from a plan, or fetch its answers (REST API)",
        description=(
            "push: create a project with budgetplan's labelling config and import one task per "
            "image of the plan (only the classes to read on it). pull: save the project's JSON "
            "export, to read with `budgetplan answers import`. The token is Label Studio's API "
            f"token (Account & Settings), from --token or ${TOKEN_ENV}."
        ),
    )
    sub = p.add_subparsers(dest="labelstudio_command", metavar="ACTION", required=True)
    push = sub.add_parser("push", help="create a project and import the plan's tasks")
    push.add_argument("plan", type=Path, help="plan JSON file")
    _connection(push)
    push.add_argument(
        "--store", default=None, help="dataset directory (or 'demo') giving image paths"
    )
    push.add_argument("--title", default=None, help="project title (default: target and plan id)")
    add_labelstudio_arguments(push)
    push.set_defaults(func=run_push)

    pull = sub.add_parser("pull", help="save a project's JSON export (tasks with answers)")
    pull.add_argument("--project", required=True, type=int, help="Label Studio project id")
    _connection(pull)
    pull.add_argument("--out", required=True, type=Path, help="JSON file to write")
    pull.set_defaults(func=run_pull)


def _connection(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", required=True, help="Label Studio address, e.g. http://localhost:8080")
    p.add_argument("--token", default=None, help=f"API token (default ${TOKEN_ENV})")


def _client(args: argparse.Namespace) -> Any:
    from budgetplan.planner.labelstudio_api import LabelStudioClient

    return LabelStudioClient(args.url, args.token or os.environ.get(TOKEN_ENV, ""))


def run_push(args: argparse.Namespace) -> int:
    from budgetplan.errors import BudgetplanError
    from budgetplan.planner import labelstudio as ls
    from budgetplan.planner.export import labelstudio_tasks, read_scores
    from budgetplan.planner.labelstudio_api import push_tasks

    plan, labels = load_plan(args.plan, args.store)
    scores = read_scores(args.scores) if args.scores is not None else None
    tasks = labelstudio_tasks(plan, labels, args.url_prefix, scores)
    problem = ls.unloadable_message([t["data"]["image"] for t in tasks])
    if problem:  # a live project with images it cannot show helps nobody
        raise BudgetplanError(problem)
    config = ls.labelstudio_config()
    ls.validate_labelstudio(tasks, config)
    title = args.title or f"{plan.target} {plan.plan_id}"
    result = push_tasks(_client(args), tasks, config, title[:50], plan.verdict[:500])
    print(
        f"project {result.project_id}: {result.n_tasks} tasks imported; open {result.project_url}"
    )
    print(
        f"after annotating: budgetplan labelstudio pull --url {args.url} --project "
        f"{result.project_id} --out answers.json"
    )
    return 0


def run_pull(args: argparse.Namespace) -> int:
    from budgetplan.io import write_text_atomic

    tasks = _client(args).export_tasks(args.project)
    write_text_atomic(args.out, json.dumps(tasks, indent=1, ensure_ascii=False) + "\n")
    n = sum(1 for t in tasks if t.get("annotations"))
    print(f"{args.out}: {len(tasks)} tasks, {n} with annotations")
    return 0
