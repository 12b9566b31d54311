# Aggregate + report: every complete run under paths.runs, into one CSV and the paper's
# tables, rliable statistics and figures (bcvlr report; docs/results.md).


rule aggregate:
    input:
        all_runs(),
    output:
        P["aggregate"],
    log:
        f"{LOGS}/aggregate.log",
    benchmark:
        f"{BENCH}/aggregate.tsv"
    params:
        runs=wf.runs_args(PLAN),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
        gpu=0,
    conda:
        ENV
    shell:
        "bcvlr aggregate {params.runs} --out {output} > {log} 2>&1"


rule report:
    input:
        all_runs(),
    output:
        report(
            f"{P['report']}/README.md",
            caption="../report/report.rst",
            category="Report",
        ),
        [
            report(p, caption="../report/table.rst", category="Tables")
            if p.endswith(".md")
            else p
            for p in report_outputs()
            if not p.endswith("README.md")
        ],
    log:
        f"{LOGS}/report.log",
    benchmark:
        f"{BENCH}/report.tsv"
    params:
        runs=wf.runs_args(PLAN),
        out=lambda w, output: os.path.dirname(output[0]),
        seeds=config["report"].get("seeds", len(config["seeds"])),
        reps=config["report"]["reps"],
        rng_seed=config["report"]["rng_seed"],
        figures="" if config["report"]["figures"] else "--no-figures",
    threads: 1
    resources:
        mem_mb=res(lambda w: config["report"].get("resources"), {"mem_mb": 4000})("mem_mb"),
        runtime=res(lambda w: config["report"].get("resources"))("runtime"),
        gpu=0,
    conda:
        ENV
    shell:
        "bcvlr report {params.runs} --out {params.out} --seeds {params.seeds} "
        "--reps {params.reps} --rng-seed {params.rng_seed} {params.figures} > {log} 2>&1"
