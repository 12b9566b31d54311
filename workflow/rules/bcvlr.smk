# BCV-LR in its three stages (Algorithm 1), for `bcvlr` and its variants (`base: bcvlr`):
# pretrain-features -> pretrain-actions -> online. The stages live in the run directory's
# pretrain/ folder, as `bcvlr run --method bcvlr` lays them out; each resumes after a kill.
#
# The pretraining stages run per {pretraining}: a task, or `multitask` for an entry with
# `pretrain_tasks` (Table 3: one pretraining per seed on the mixed videos of several tasks,
# which every online run of the entry loads, on seen and unseen tasks alike).
#
# Each stage job asks for the runtime and memory its entry's resources give, else for its
# estimate from measured rates x the safety factor (bcvlr/workflow/cost.py).


rule bcvlr_features:
    input:
        unpack(_stage_inputs),
    output:
        f"{DONE}/pretrain-features/{{method}}/{{pretraining}}/seed{{seed}}.json",
    log:
        f"{LOGS}/bcvlr_features/{{method}}/{{pretraining}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/bcvlr_features/{{method}}/{{pretraining}}/seed{{seed}}.tsv"
    wildcard_constraints:
        method=_alternatives(BCVLR_METHODS),
        pretraining=_alternatives([*TASK_NAMES, wf.MULTITASK]),
    params:
        product=lambda w: stage_dir(w.method, w.pretraining, w.seed, "features"),
        task=_task_of,
        videos=_stage_videos,
        args=lambda w: wf.stage_args(PLAN, w.method, _task_of(w)),
    threads: bcvlr_res("features")("cpus")
    resources:
        mem_mb=bcvlr_res("features")("mem_mb"),
        runtime=bcvlr_res("features")("runtime"),
        gpu=bcvlr_res("features")("gpu"),
    conda:
        ENV
    shell:
        "python -m bcvlr.workflow job --kind stage --product {params.product} --done {output} -- "
        "bcvlr pretrain-features --task {params.task} --seed {wildcards.seed} "
        "--videos {params.videos} {params.args} --out {params.product} --no-progress "
        "> {log} 2>&1"


rule bcvlr_actions:
    input:
        unpack(_actions_inputs),
    output:
        f"{DONE}/pretrain-actions/{{method}}/{{pretraining}}/seed{{seed}}.json",
    log:
        f"{LOGS}/bcvlr_actions/{{method}}/{{pretraining}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/bcvlr_actions/{{method}}/{{pretraining}}/seed{{seed}}.tsv"
    wildcard_constraints:
        method=_alternatives(BCVLR_METHODS),
        pretraining=_alternatives([*TASK_NAMES, wf.MULTITASK]),
    params:
        product=lambda w: stage_dir(w.method, w.pretraining, w.seed, "latent_actions"),
        task=_task_of,
        videos=_stage_videos,
        features=_artifact_args,
        args=lambda w: wf.stage_args(PLAN, w.method, _task_of(w)),
    threads: bcvlr_res("actions")("cpus")
    resources:
        mem_mb=bcvlr_res("actions")("mem_mb"),
        runtime=bcvlr_res("actions")("runtime"),
        gpu=bcvlr_res("actions")("gpu"),
    conda:
        ENV
    shell:
        "python -m bcvlr.workflow job --kind stage --product {params.product} --done {output} -- "
        "bcvlr pretrain-actions --task {params.task} --seed {wildcards.seed} "
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
        videos=_online_videos,
        stages=_artifact_args,
        args=lambda w: wf.method_args(PLAN, w.method, w.task),
        # the run's name and root: the entry's, or report_as/runs (Figure 9's 500k runs)
        name=lambda w: run_name(w.method),
        runs=lambda w: run_root(w.method),
    threads: bcvlr_res("online")("cpus")
    resources:
        mem_mb=bcvlr_res("online")("mem_mb"),
        runtime=bcvlr_res("online")("runtime"),
        gpu=bcvlr_res("online")("gpu"),
    conda:
        ENV
    shell:
        "python -m bcvlr.workflow job --kind run --product {params.product} --done {output} -- "
        "bcvlr online --task {wildcards.task} --seed {wildcards.seed} --videos {params.videos} "
        "{params.stages} {params.args} --method-name {params.name} "
        "--runs-root {params.runs} --no-progress > {log} 2>&1"


# Smaller expert-video datasets (`videos_steps`, Figure 5): the same expert and seed as the
# task's full dataset, collected to N transitions, in data/videos/{task}-{N}.
use rule videos as videos_amount with:
    output:
        f"{DONE}/videos/{{task}}-{{steps}}.json",
    log:
        f"{LOGS}/videos/{{task}}-{{steps}}.log",
    benchmark:
        f"{BENCH}/videos/{{task}}-{{steps}}.tsv"
    wildcard_constraints:
        steps=r"\d+",
    params:
        product=lambda w: videos_dir(w.task, w.steps),
        args=lambda w: wf.videos_args(PLAN, w.task, int(w.steps)),
