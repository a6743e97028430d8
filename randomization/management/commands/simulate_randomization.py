"""`manage.py simulate_randomization`: balance and predictability of the randomization methods
by simulation (PRODUCT.md §6). With --trial, the trial's stratification factors and assumed
factor distributions (protocol `randomization.simulation`, or --distribution); without, an
unstratified sequence. --html PATH writes a report comparing every method, with plots."""

from __future__ import annotations

import base64
import html
import io
import json
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from randomization import methods, simulation
from trialsite.models import Trial


class Command(BaseCommand):
    help = "Simulate randomization methods: balance and predictability."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--trial", help="Registry id; its factors and distributions are used.")
        parser.add_argument("--method", choices=methods.METHODS, help="Default: the trial's method or minimization.")
        parser.add_argument("--block-sizes", help="Permuted blocks: sizes, e.g. 4,6.")
        parser.add_argument("--p", type=float, help="Minimization: probability of the minimizing arm.")
        parser.add_argument("--efron-p", type=float, help="Efron's biased coin: p.")
        parser.add_argument("--imbalance", choices=methods.IMBALANCE_MEASURES)
        parser.add_argument("--n", type=int, default=102, help="Participants per simulated trial (default 102).")
        parser.add_argument("--runs", type=int, default=10_000, help="Simulated trials (default 10000).")
        parser.add_argument("--seed", type=int, default=20250422, help="Seed of the simulation (not the trial's).")
        parser.add_argument(
            "--distribution",
            action="append",
            default=[],
            metavar="FACTOR=LEVEL:P,...",
            help="Factor distribution, e.g. ecog=0:0.6,1:0.4 (repeatable; overrides the protocol's).",
        )
        parser.add_argument("--unstratified", action="store_true", help="Ignore the trial's factors.")
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")
        parser.add_argument("--html", metavar="PATH", help="Write an HTML report comparing every method.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["n"] < 1 or options["runs"] < 1:
            raise CommandError("--n and --runs must be at least 1.")
        definition: dict[str, Any] = {}
        if options["trial"]:
            trial = Trial.objects.select_related("current_protocol").filter(registry_id=options["trial"]).first()
            if trial is None:
                raise CommandError(f"Unknown trial {options['trial']!r}.")
            definition = trial.definition
        method = options["method"] or definition.get("randomization", {}).get("method", "minimization")
        try:
            config = self._config(definition, method, options)
            distributions = self._distributions(definition, config, options)
        except (ValueError, methods.ConfigurationError) as exc:
            raise CommandError(str(exc)) from exc

        summary = self._run(config, distributions, options)
        if options["html"]:
            compared: list[tuple[methods.Config, simulation.Summary]] = []
            for other in methods.METHODS:
                if other == method:
                    compared.append((config, summary))
                    continue
                other_config = self._config(definition, other, options)
                compared.append((other_config, self._run(other_config, distributions, options)))
            self._write_html(options["html"], compared, options)
        if options["json"]:
            self.stdout.write(json.dumps(summary.as_dict(), ensure_ascii=False))
        else:
            self._print(summary)
            if options["html"]:
                self.stdout.write(f"Report written to {options['html']}")

    def _config(self, definition: dict[str, Any], method: str, options: dict[str, Any]) -> methods.Config:
        overrides: dict[str, Any] = {"method": method}
        if options["p"] is not None:
            overrides["p"] = options["p"]
        if options["efron_p"] is not None:
            overrides["efron_p"] = options["efron_p"]
        if options["imbalance"]:
            overrides["imbalance"] = options["imbalance"]
        if options["block_sizes"]:
            try:
                overrides["block_sizes"] = tuple(int(s) for s in options["block_sizes"].split(","))
            except ValueError as exc:
                raise CommandError("--block-sizes takes whole numbers separated by commas, e.g. 4,6.") from exc
        if not definition or options["unstratified"] or method in ("efron", "simple"):
            # Efron's coin and simple randomization ignore factors; without a trial nothing is stratified.
            overrides["factors"] = ()
        return methods.Config.from_definition(definition, **overrides)

    def _distributions(
        self, definition: dict[str, Any], config: methods.Config, options: dict[str, Any]
    ) -> list[simulation.FactorDistribution]:
        given = {d.code: d for d in (simulation.parse_distribution(t) for t in options["distribution"])}
        codes: list[str] = []
        if definition and not options["unstratified"]:
            codes = [f["code"] for f in definition.get("randomization", {}).get("factors", [])]
        codes += [c for c in given if c not in codes]
        from_protocol = simulation.distributions_from_definition(definition, [c for c in codes if c not in given])
        by_code = {d.code: d for d in from_protocol} | given
        return [by_code[c] for c in codes]

    def _run(
        self, config: methods.Config, distributions: list[simulation.FactorDistribution], options: dict[str, Any]
    ) -> simulation.Summary:
        bar = None
        if sys.stderr.isatty() and not options["json"]:
            from tqdm import tqdm

            bar = tqdm(total=options["runs"], desc=config.method, unit="run", file=sys.stderr)
        done = {"n": 0}

        def progress(k: int) -> None:
            if bar is not None and (k - done["n"] >= 100 or k == options["runs"]):
                bar.update(k - done["n"])
                done["n"] = k

        try:
            return simulation.simulate(
                config,
                distributions,
                n=options["n"],
                runs=options["runs"],
                seed=options["seed"],
                progress=progress,
                now=time.perf_counter,
            )
        finally:
            if bar is not None:
                bar.close()

    def _print(self, s: simulation.Summary) -> None:
        strata = ", ".join(s.stratified_by) or "unstratified"
        lines = [
            f"{s.method} ({strata}): {s.runs} runs of {s.n} participants in {s.seconds:.1f} s",
            f"  mean |final imbalance|        {s.mean_abs_final_imbalance:.3f}",
            f"  mean max |imbalance|          {s.mean_max_abs_imbalance:.3f}",
            f"  P(final imbalance > 2)        {s.p_final_imbalance_gt_2:.4f}",
            f"  correct guess (all allocations) {s.correct_guess_probability:.4f}",
        ]
        if s.correct_guess_probability_site is not None:
            lines.append(f"  correct guess (own site only)  {s.correct_guess_probability_site:.4f}")
        for code, levels in s.per_level_mean_abs_final_imbalance.items():
            cells = ", ".join(f"{level} {v:.2f}" for level, v in levels.items())
            lines.append(f"  mean |final imbalance| by {code}: {cells}")
        self.stdout.write("\n".join(lines))

    def _write_html(
        self, path: str, compared: list[tuple[methods.Config, simulation.Summary]], options: dict[str, Any]
    ) -> None:
        """A report a statistician can paste into a go-live memo: each method's parameters in the
        table, labelled axes, one colour per method kept across the charts, legends outside the
        bars."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        def png(fig: Any) -> str:
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
            plt.close(fig)
            return base64.b64encode(buffer.getvalue()).decode()

        def legend_outside(ax: Any) -> None:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, frameon=False)

        summaries = [s for _config, s in compared]
        names = [s.method for s in summaries]
        colours = {name: f"C{i}" for i, name in enumerate(names)}
        positions = range(len(names))
        # One chart a row, legends to the right of the plot area: nothing covers a bar.
        fig, axes = plt.subplots(3, 1, figsize=(9, 11), gridspec_kw={"hspace": 0.55})
        # Final and largest-during imbalance side by side (overlaid, the final bar looked grey).
        half = 0.38
        axes[0].bar(
            [x - half / 2 for x in positions],
            [s.mean_abs_final_imbalance for s in summaries],
            half,
            color="C0",
            label="at the end",
        )
        axes[0].bar(
            [x + half / 2 for x in positions],
            [s.mean_max_abs_imbalance for s in summaries],
            half,
            color="C1",
            label="largest during",
        )
        axes[0].set_xticks(list(positions), names)
        axes[0].set_xlabel("method")
        axes[0].set_ylabel("mean |arm difference|\n(participants)")
        axes[0].set_title("imbalance, whole trial")
        legend_outside(axes[0])
        axes[1].bar(names, [s.correct_guess_probability for s in summaries], color="C0", label="sees all allocations")
        if any(s.correct_guess_probability_site is not None for s in summaries):
            site = [s.correct_guess_probability_site or 0 for s in summaries]
            axes[1].plot(names, site, "kD", label="sees own site only")
        axes[1].axhline(0.5, color="grey", lw=0.8, ls="--", label="0.5: unpredictable")
        axes[1].set_ylim(0.4, 1)
        axes[1].set_xlabel("method")
        axes[1].set_ylabel("P(correct guess)")
        axes[1].set_title("predictability: a guesser picks the arm with fewer participants")
        legend_outside(axes[1])
        for s in summaries:
            xs = sorted(s.final_imbalance_histogram)
            axes[2].plot(
                xs,
                [s.final_imbalance_histogram[x] / s.runs for x in xs],
                marker="o",
                color=colours[s.method],
                label=s.method,
            )
        axes[2].set_xlabel("|arm difference| at the end (participants)")
        axes[2].set_ylabel("share of simulated trials")
        axes[2].set_title("distribution of final imbalance")
        legend_outside(axes[2])
        overview = png(fig)

        level_imgs = []
        codes = list(summaries[0].per_level_mean_abs_final_imbalance)
        for code in codes:
            levels = list(summaries[0].per_level_mean_abs_final_imbalance[code])
            fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(levels) + 3), 3.2))
            width = 0.8 / len(summaries)
            for i, s in enumerate(summaries):
                values = [s.per_level_mean_abs_final_imbalance[code].get(level, 0) for level in levels]
                ax.bar(
                    [x + i * width for x in range(len(levels))],
                    values,
                    width=width,
                    color=colours[s.method],
                    label=s.method,
                )
            ax.set_xticks([x + 0.4 - width / 2 for x in range(len(levels))], levels)
            ax.set_xlabel(f"level of {code}")
            ax.set_ylabel("mean |arm difference|")
            ax.set_title(f"final imbalance within each level of {code}")
            legend_outside(ax)
            level_imgs.append((code, png(fig)))

        rows = "".join(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(v))}</td>"
                for v in (
                    s.method,
                    _parameters(config),
                    ", ".join(s.stratified_by) or "—",
                    f"{s.mean_abs_final_imbalance:.3f}",
                    f"{s.mean_max_abs_imbalance:.3f}",
                    f"{s.p_final_imbalance_gt_2:.4f}",
                    f"{s.correct_guess_probability:.4f}",
                    "—" if s.correct_guess_probability_site is None else f"{s.correct_guess_probability_site:.4f}",
                    f"{s.seconds:.1f}",
                )
            )
            + "</tr>"
            for config, s in compared
        )
        params = html.escape(
            f"n={options['n']}, runs={options['runs']}, seed={options['seed']}, trial={options['trial'] or '—'}"
        )
        level_html = "".join(
            f'<h3>By {html.escape(code)}</h3><img src="data:image/png;base64,{img}">' for code, img in level_imgs
        )
        document = f"""<!doctype html><html><head><meta charset="utf-8">
<title>Randomization simulation report</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{border:1px solid #ccc;padding:4px 8px}}
table{{border-collapse:collapse}}</style></head><body>
<h1>Randomization simulation report</h1><p>{params}</p>
<table><tr><th>method</th><th>parameters</th><th>stratified by</th><th>mean |final imbalance|</th>
<th>mean max |imbalance|</th>
<th>P(final &gt; 2)</th><th>P(correct guess), sees all</th><th>P(correct guess), own site</th>
<th>seconds</th></tr>{rows}</table>
<p>Predictability: a guesser who always guesses the arm with fewer participants so far
(ties count one half); 0.5 is unpredictable.</p>
<img src="data:image/png;base64,{overview}">{level_html}
</body></html>"""
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(document)


def _parameters(config: methods.Config) -> str:
    """The parameters a method uses, as the report's reader needs them to repeat the run."""
    if config.method == "minimization":
        return f"p = {config.p:g}, imbalance = {config.imbalance}"
    if config.method == "blocks":
        return "block sizes " + ", ".join(str(size) for size in config.block_sizes)
    if config.method == "efron":
        return f"p = {config.efron_p:.3g}"
    return "—"
