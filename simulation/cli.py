"""The `iotsu-sim` command line (see docs/interface.md). Commands import what they need
when they run, so that `--help`, `scenarios` and refusals of bad input answer at once."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simulation.errors import ScenarioError

EXIT_BAD_INPUT = 2


class _OneLineParser(argparse.ArgumentParser):
    """Refuses bad arguments with one line (no usage block) and exit status 2."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="iotsu-sim",
        description="Simulate software updates of sleepy IoT fleets behind NATs.")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="one simulation")
    r.add_argument("scenario", help="a TOML file or a built-in scenario name")
    r.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario key (repeatable), e.g. nat.udp_timeout_s=30")
    r.add_argument("--seed", type=int, help="master seed (sim.seed)")
    r.add_argument("--out", type=Path, help="output folder (default results/run-<name>)")
    r.add_argument("--trace", type=int, default=0, metavar="N",
                   help="write trace.txt with the messages of the first N devices")
    r.add_argument("--workers", type=int, metavar="N",
                   help="processes for a flow-fidelity run, split by cells (default: one per "
                        "core from 20,000 devices), or with --dask the partitions (default: "
                        "one per worker thread); the results do not depend on it")
    r.add_argument("--dask", metavar="ADDRESS",
                   help="simulate the cells' partitions on a dask.distributed cluster: a "
                        "scheduler address, or 'local' for a LocalCluster of --workers "
                        "processes (default 2)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")

    sw = sub.add_parser("sweep", help="a parameter sweep with replications (resumable)")
    sw.add_argument("experiment", help="an experiment TOML file (see experiments/)")
    sw.add_argument("--workers", type=int, metavar="N",
                    help="local processes (default: every core)")
    sw.add_argument("--dask", metavar="ADDRESS",
                    help="a dask.distributed scheduler address, or 'local' for a LocalCluster")
    sw.add_argument("--out", type=Path, help="output folder (default results/<name>)")
    sw.add_argument("--tier", choices=("quick", "default", "full"), default="default",
                    help="size tier of an experiment with [experiment.quick] / "
                         "[experiment.full] tables (default: its own values)")
    sw.add_argument("--quiet", action="store_true", help="no progress bar")

    sub._parser_class = _OneLineParser      # for `reproduce` only
    rp = sub.add_parser("reproduce", help="the headline study: every sweep, figure and the "
                                          "report (resumable)")
    sub._parser_class = argparse.ArgumentParser
    rp.add_argument("--quick", action="store_true",
                    help="the small tier (about a minute; what the tests run)")
    rp.add_argument("--full", action="store_true", help="the paper-size tier (hours)")
    rp.add_argument("--out", type=Path, default=Path("results"),
                    help="output folder (default results/)")
    rp.add_argument("--workers", type=int, metavar="N",
                    help="local processes (default: every core)")
    rp.add_argument("--quiet", action="store_true", help="no progress bars")

    fg = sub.add_parser("figures", help="redraw every figure from stored results")
    fg.add_argument("results_dir", type=Path, help="a run or sweep folder, or a folder of them")

    v = sub.add_parser("validate", help="check the model against independent references "
                                        "(closed forms, RFCs, real stacks, measurements); "
                                        "exit status 1 if a check fails")
    v.add_argument("--only", action="append", default=[], metavar="CHECK",
                   help="run this check only (repeatable): renewal, coap-loss, coap-give-up, "
                        "serialization, slow-start, bytes, nat, energy, observe, fidelity")
    v.add_argument("--workers", type=int, metavar="N", help="processes (default: 2)")
    v.add_argument("--out", type=Path,
                   help="also write validation.md and validation.csv into this folder")
    v.add_argument("--quiet", action="store_true", help="no progress lines")

    sub.add_parser("scenarios", help="list the built-in scenarios")
    d = sub.add_parser("docs", help="write a page per strategy, generated from the model")
    d.add_argument("--out", type=Path, default=Path("docs/strategies"))
    sub.add_parser("keys", help="print the scenario keys as a Markdown table")
    return p


def cmd_run(args) -> int:
    from simulation.feasibility import LONG_S, check_fits, estimate
    from simulation.runner import run
    from simulation.outputs import now_iso, write_run
    from simulation.scenario import load_scenario
    from simulation.strategies import check_supported

    if args.trace < 0:
        raise ScenarioError(f"--trace {args.trace} is not allowed: expected N >= 0")
    if args.workers is not None and args.workers < 1:
        raise ScenarioError(f"--workers {args.workers} is not allowed: expected N >= 1")
    scenario = load_scenario(args.scenario, args.sets, seed=args.seed)
    check_supported(scenario)   # refuse before anything runs
    est = estimate(scenario) if args.dask else check_fits(scenario)   # a worker's: `run`
    if est.wall_s > LONG_S and not args.quiet:
        print(f"note: this run will take {est.text}", file=sys.stderr)
    name = Path(args.scenario).stem
    out = args.out or Path("results") / f"run-{name}"
    started = now_iso()
    progress, bar = None, None
    if not args.quiet and sys.stderr.isatty():
        from tqdm import tqdm
        bar = tqdm(total=scenario.sim.horizon_s, unit="sim-s", desc=name, leave=False)
        progress = lambda t: bar.update(t - bar.n)   # noqa: E731
    try:
        result = run(scenario, trace_devices=args.trace, progress=progress,
                     workers=args.workers, dask=args.dask)
    finally:
        if bar is not None:
            bar.close()
    write_run(result, out, source=args.scenario, started=started)
    s = result.summary
    p50 = s["ttu_p50_s"]
    print(f"{s['strategy']}: {s['fleet_size']} devices, updated {s['updated_fraction']:.1%}, "
          f"p50 time to update {'n/a' if p50 is None else f'{p50:.0f} s'}, "
          f"{s['energy_per_device_j']:.2f} J/device, {s['events']} events in "
          f"{s['wall_s']:.1f} s -> {out}")
    for warning in s["validity_warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    if (args.dask or (args.workers or 1) > 1) and s["workers"] < (args.workers or 2):
        print(f"note: {s['workers']} part(s): the cells interact (a fleet-wide rollout rule, "
              "or the manager's queues: parts must divide manager.servers) or the run is "
              "at packet fidelity", file=sys.stderr)
    return 0


def cmd_sweep(args) -> int:
    from simulation.sweeps import load_experiment, sweep

    if args.workers is not None and args.workers < 1:
        raise ScenarioError(f"--workers {args.workers} is not allowed: expected N >= 1")
    experiment = load_experiment(args.experiment, args.tier)
    result = sweep(experiment, args.out, workers=args.workers, dask=args.dask,
                   progress=False if args.quiet else None)
    m = result.manifest
    print(f"{m['name']}: {m['runs']} runs ({m['computed']} computed, {len(m['reused'])} "
          f"reused, {len(m['failed'])} failed) -> {result.out}")
    if result.failed:
        first = next(iter(m["failed"].values()))
        print(f"iotsu-sim: {result.failed} runs failed, e.g. {first}; see "
              f"{result.out / 'failed'}", file=sys.stderr)
        return 1
    return 0


def cmd_reproduce(args) -> int:
    from simulation.study import reproduce

    if args.quick and args.full:
        raise ScenarioError("--quick and --full are not allowed together: pick one tier")
    tier = "quick" if args.quick else "full" if args.full else "default"
    result = reproduce(args.out, tier, workers=args.workers,
                       progress=False if args.quiet else None, log=print)
    if result.failed:
        print(f"iotsu-sim: {result.failed} runs failed (see {args.out}/<question>/failed/); "
              "no figures or report; run the same command again to retry them",
              file=sys.stderr)
        return 1
    print(f"{len(result.figures)} figure files in {args.out / 'figures'}; report: "
          f"{result.report}")
    return 0


def cmd_figures(args) -> int:
    from simulation.figures.draw import draw

    paths = draw(args.results_dir)
    print(f"{len(paths)} figure files written, e.g. {paths[0]}")
    return 0


def cmd_docs(args) -> int:
    from simulation.docs import write_pages

    for path in write_pages(args.out):
        print(path)
    return 0


def cmd_validate(args) -> int:
    from simulation.outputs import write_validation
    from simulation.validation import CHECKS, FAIL, counted, run_checks

    unknown = [n for n in args.only if n not in CHECKS]
    if unknown:
        raise ScenarioError(f"no check named {unknown[0]!r}: choose from {', '.join(CHECKS)}")
    if args.workers is not None and args.workers < 1:
        raise ScenarioError(f"--workers must be at least 1, not {args.workers}")
    names = args.only or list(CHECKS)
    done = []

    def progress(name):
        done.append(name)
        if not args.quiet:
            print(f"[{len(done)}/{len(names)}] {name}", file=sys.stderr, flush=True)

    checks = run_checks(names, workers=args.workers or 2, progress=progress)
    print(write_validation(checks, args.out) if args.out else counted(checks), end="")
    return 1 if any(c.verdict == FAIL for c in checks) else 0


def cmd_scenarios(_args) -> int:
    from simulation.scenario import builtin_scenarios

    for name, line in builtin_scenarios().items():
        print(f"{name:<20} {line}")
    return 0


def cmd_keys(_args) -> int:
    from simulation.scenario import toml_value, all_keys, field_of
    from simulation.scenario.schema import allowed_text

    print("| key | default | unit | allowed | meaning |\n| --- | --- | --- | --- | --- |")
    for k in all_keys():
        f = field_of(k)
        m = f.metadata
        default = "preset" if f.default is None else f"`{toml_value(f.default)}`"
        kind = "true/false" if isinstance(f.default, bool) else (
            "integer" if m["integer"] else "number")
        allowed = allowed_text(m, kind).replace("one of ", "")
        print(f"| `{k}` | {default} | {m['unit']} | {allowed} | {m['doc']} |")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if args.command == "reproduce":
            print(f"iotsu-sim reproduce: error: unrecognized arguments: {' '.join(extra)}",
                  file=sys.stderr)
            return EXIT_BAD_INPUT
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    handler = {"run": cmd_run, "sweep": cmd_sweep, "scenarios": cmd_scenarios,
               "keys": cmd_keys, "docs": cmd_docs, "figures": cmd_figures,
               "reproduce": cmd_reproduce, "validate": cmd_validate}[args.command]
    try:
        return handler(args)
    except ScenarioError as e:
        print(f"iotsu-sim: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # the reader went away (`iotsu-sim ... | head`): stop quietly, as the Python docs
        # advise (signal module, "Note on SIGPIPE")
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        what = ("finished runs are stored; run the same command again to continue"
                if args.command in ("sweep", "reproduce") else "nothing was written")
        print(f"iotsu-sim: interrupted; {what}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
