# BCV-LR in its three stages (Algorithm 1), for `bcvlr` and its variants (`base: bcvlr`):
# pretrain-features -> pretrain-actions -> online. The stages live in the run directory's
# pretrain/ folder, as `bcvlr run --method bcvlr` lays them out; each resumes after a kill.


rule bcvlr_features:
    input:
        unpack(_stage_inputs),
    output:
        f"{DONE}/pretrain-features/{{method}}/{{task}}/seed{{seed}}.json",
    log:
        f"{LOGS}/bcvlr_features/{{method}}/{{task}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/bcvlr_features/{{method}}/{{task}}/seed{{seed}}.tsv"
    wildcard_constraints:
        method=_alternatives(BCVLR_METHODS),
    params:
        product=lambda w: stage_dir(w.method, w.task, w.seed, "features"),
        videos=lambda w: videos_dir(w.task),
        args=lambda w: wf.stage_args(PLAN, w.method, w.task),
    threads: res(method_section)("cpus")
    resources:
        mem_mb=res(method_section)("mem_mb"),
        runtime=res(method_section)("runtime"),
        gpu=res(method_section)("gpu"),
    conda:
        ENV
    shell:
        "python -m bcvlr.workflow job --kind stage --product {params.product} --done {output} -- "
        "bcvlr pretrain-features --task {wildcards.task} --seed {wildcards.seed} "
        "--videos {params.videos} {params.args} --out {params.product} --no-progress "
        "> {log} 2>&1"


rule bcvlr_actions:
    input:
        unpack(_actions_inputs),
    output:
        f"{DONE}/pretrain-actions/{{method}}/{{task}}/seed{{seed}}.json",
    log:
        f"{LOGS}/bcvlr_actions/{{method}}/{{task}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/bcvlr_actions/{{method}}/{{task}}/seed{{seed}}.tsv"
    wildcard_constraints:
        method=_alternatives(BCVLR_METHODS),
    params:
        product=lambda w: stage_dir(w.method, w.task, w.seed, "latent_actions"),
        videos=lambda w: videos_dir(w.task),
        features=_artifact_args,
        args=lambda w: wf.stage_args(PLAN, w.method, w.task),
    threads: res(method_section)("cpus")
    resources:
        mem_mb=res(method_section)("mem_mb"),
        runtime=res(method_section)("runtime"),
        gpu=res(method_section)("gpu"),
    conda:
        ENV
    shell:
        "python -m bcvlr.workflow job --kind stage --product {params.product} --done {output} -- "
        "bcvlr pretrain-actions --task {wildcards.task} --seed {wildcards.seed} "
        "--videos {params.videos} {params.features} {params.args} --out {params.product} "
        "--no-progress > {log} 2>&1"


rule bcvlr_online:
    input:
        unpack(_online_inputs),
    output:
        f"{DONE}/runs/{{method}}/{{task}}/seed{{seed}}.json",
    log:
        f"{LOGS}/bcvlr_online/{{method}}/{{task}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/bcvlr_online/{{method}}/{{task}}/seed{{seed}}.tsv"
    wildcard_constraints:
        method=_alternatives(BCVLR_METHODS),
    params:
        product=lambda w: run_dir(w.method, w.task, w.seed),
        videos=lambda w: videos_dir(w.task),
        stages=_artifact_args,
        args=lambda w: wf.method_args(PLAN, w.method, w.task),
        runs=P["runs"],
    threads: res(method_section)("cpus")
    resources:
        mem_mb=res(method_section)("mem_mb"),
        runtime=res(method_section)("runtime"),
        gpu=res(method_section)("gpu"),
    conda:
        ENV
    shell:
        "python -m bcvlr.workflow job --kind run --product {params.product} --done {output} -- "
        "bcvlr online --task {wildcards.task} --seed {wildcards.seed} --videos {params.videos} "
        "{params.stages} {params.args} --method-name {wildcards.method} "
        "--runs-root {params.runs} --no-progress > {log} 2>&1"
