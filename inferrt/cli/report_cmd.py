"""``inferrt report PLAN [--profile-json FILE | --run] [--compare OTHER.plan] -o report.html``: one self-contained
HTML page with the plan's optimized layer graph, per-layer times, memory plan, and a side-by-side view of two plans
(see inferrt/report)."""
from __future__ import annotations

import sys

DEFAULT_RUN_ITERATIONS = 10


def add_report_parser(sub) -> None:
    p = sub.add_parser("report", allow_abbrev=False,
                       help="write a self-contained HTML report of a plan: layer graph, layer times, memory plan, "
                            "comparison with another plan")
    p.add_argument("plan", help="the plan file (from inferrt exec --saveEngine or builder.build_serialized_network)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--profile-json", dest="profile_json", metavar="FILE",
                     help="per-layer times from `inferrt exec --exportProfile` (trtexec's layout) for the chart")
    src.add_argument("--run", action="store_true",
                     help="profile the plan here (on the device it was built for) with seeded random inputs at "
                          "optimization profile 0's opt shapes, through the engine's IProfiler")
    p.add_argument("--iterations", type=int, default=None, metavar="N",
                   help=f"with --run: profiled queries, after one warm-up query (default {DEFAULT_RUN_ITERATIONS})")
    p.add_argument("--compare", metavar="OTHER_PLAN", help="a second plan to show side by side with the first")
    p.add_argument("--compare-profile-json", dest="compare_profile_json", metavar="FILE",
                   help="per-layer times of the --compare plan (--exportProfile layout); with --run both plans "
                        "are profiled here")
    p.add_argument("-o", "--output", required=True, metavar="HTML", help="the report file to write")


def _fail(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


def _check(args) -> str | None:
    if args.iterations is not None and not args.run:
        return "--iterations counts the queries of --run; add --run or drop --iterations"
    if args.iterations is not None and args.iterations < 1:
        return f"--iterations={args.iterations}: give at least 1 profiled query"
    if args.compare_profile_json and not args.compare:
        return "--compare-profile-json needs --compare OTHER_PLAN (the plan it was recorded on)"
    if args.compare_profile_json and args.run:
        return "--compare-profile-json and --run both give the --compare plan's times; use one"
    return None


def profile_here(engine, shapes: dict, iterations: int) -> dict:
    """Profile ``engine`` on its device: one warm-up query, then ``iterations`` queries with an IProfiler set;
    the rows are those of --exportProfile."""
    import inferrt as trt

    from ..report.plan_data import shaped_context
    from .exec_report import profile_rows
    from .exec_run import make_inputs, run_profile

    ctx = shaped_context(engine, shapes)
    if ctx is None:
        raise trt.ShapeError(f"the engine refused input shapes {shapes} (optimization profile 0's opt shapes)")
    feeds = make_inputs(engine, shapes, {}, trt)
    ctx.infer(feeds)
    prof, count = run_profile(ctx, feeds, iterations, False)
    where = "the GPU" if engine.device_kind == "cuda" else "the CPU"
    return {"count": count, "rows": profile_rows(prof.times, count),
            "source": f"profiled here on {where} with --run"}


def _plan_data(path: str, profile_json: str | None, run: bool, iterations: int) -> dict:
    from ..report.plan_data import describe_plan, load_engine_file
    from ..report.profile_data import attach_profile, read_profile_json

    engine = load_engine_file(path)
    plan = describe_plan(path, engine)
    if run:
        shapes = {k: tuple(v) for k, v in plan["shapes"].items()}
        plan["profile"] = attach_profile(plan, profile_here(engine, shapes, iterations))
    elif profile_json:
        plan["profile"] = attach_profile(plan, read_profile_json(profile_json))
    return plan


def cmd_report(args) -> int:
    why = _check(args)
    if why:
        return _fail(why)
    import inferrt as trt

    from ..report.html_page import render_report

    iterations = args.iterations or DEFAULT_RUN_ITERATIONS
    try:
        plan = _plan_data(args.plan, args.profile_json, args.run, iterations)
        other = _plan_data(args.compare, args.compare_profile_json, args.run, iterations) if args.compare else None
    except (trt.PlanError, trt.ShapeError, trt.ExecutionError) as e:
        return _fail(str(e))
    page = render_report(plan, other)
    try:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(page)
    except OSError as e:
        return _fail(f"cannot write the report {args.output!r}: {e.strerror}")
    for p in (plan, other):
        if p and p.get("profile") and p["profile"]["unmatched"]:
            print(f"[W] {len(p['profile']['unmatched'])} profiled layer(s) are not layers of {p['path']}: "
                  f"{', '.join(p['profile']['unmatched'])}")
    print(f"[I] Report written to {args.output} ({len(plan['layers'])} layers"
          f"{', with layer times' if plan.get('profile') else ''}{', compared with ' + args.compare if other else ''})")
    return 0
