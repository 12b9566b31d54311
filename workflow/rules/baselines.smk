# Every method other than BCV-LR: one `bcvlr run --method M` per task and seed. `run_method` is
# the template; each implemented method gets its own rule below (two lines), so that
# `snakemake -n` counts its jobs and a profile can give it resources or a group of its own.
# Video-imitation methods (`videos: true` in the config, or in the paper's method list) get
# the task's expert videos as input and --videos.


rule run_method:
    input:
        unpack(_run_inputs),
    output:
        f"{DONE}/runs/{{method}}/{{task}}/seed{{seed}}.json",
    log:
        f"{LOGS}/run/{{method}}/{{task}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/run/{{method}}/{{task}}/seed{{seed}}.tsv"
    wildcard_constraints:
        # a template: the rules below (and the fallback at the end) say which methods it runs
        method="(?!)",
    params:
        product=lambda w: run_dir(w.method, w.task, w.seed),
        videos=lambda w, input: f"--videos {videos_dir(w.task)}" if "videos" in input.keys() else "",
        args=lambda w: wf.method_args(PLAN, w.method, w.task),
        name=lambda w: run_name(w.method),
        runs=lambda w: run_root(w.method),
    threads: res(method_section)("cpus")
    resources:
        mem_mb=res(method_section)("mem_mb"),
        runtime=res(method_section)("runtime"),
        gpu=res(method_section)("gpu"),
    conda:
        ENV
    shell:
        "python -m bcvlr.workflow job --kind run --product {params.product} --done {output} -- "
        "bcvlr run --method {params.name} --task {wildcards.task} --seed {wildcards.seed} "
        "{params.videos} {params.args} --runs-root {params.runs} --no-progress > {log} 2>&1"


# -- one rule per implemented method -----------------------------------------------------------
use rule run_method as random with:
    wildcard_constraints:
        method="random",


use rule run_method as ppo with:
    wildcard_constraints:
        method="ppo",


use rule run_method as drqv2 with:
    wildcard_constraints:
        method="drqv2",


use rule run_method as taco with:
    wildcard_constraints:
        method="taco",


use rule run_method as lapo with:
    wildcard_constraints:
        method="lapo",


use rule run_method as lapo_bc with:
    wildcard_constraints:
        method="lapo_bc",


use rule run_method as laifo with:
    wildcard_constraints:
        method="laifo",


use rule run_method as ilpo with:
    wildcard_constraints:
        method="ilpo",


use rule run_method as bco with:
    wildcard_constraints:
        method="bco",


use rule run_method as upesv with:
    wildcard_constraints:
        method="upesv",


# -- methods without a rule of their own yet (a `module:` entry, or newly registered) ----------
use rule run_method as run_new_method with:
    wildcard_constraints:
        method=_alternatives(set(OTHER_METHODS) - {r.name for r in workflow.rules}),
