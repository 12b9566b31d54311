# Experts: the policies whose rollouts become the expert videos. One per task (the paper
# fixes one expert dataset per task), trained with experts.seed. Metaworld's scripted experts
# take no training: their rule is tiny and grouped on SLURM (slurm/config.yaml).
SCRIPTED_TASKS = [t for t in PLAN.video_tasks() if PLAN.expert_kind(t) == "scripted"]
# tasks whose videos are imported (videos.lapo_data) need no expert
IMPORTED_TASKS = PLAN.imported_video_tasks()
TRAINED_TASKS = [t for t in PLAN.video_tasks()
                 if PLAN.expert_kind(t) != "scripted" and t not in IMPORTED_TASKS]

EXPERT_SHELL = (
    "python -m bcvlr.workflow job --kind expert --product {params.product} --done {output} -- "
    "bcvlr train-expert --task {wildcards.task} --seed {params.seed} {params.args} "
    "--out {params.product} --no-progress > {log} 2>&1"
)


rule expert:
    output:
        f"{DONE}/experts/{{task}}.json",
    log:
        f"{LOGS}/expert/{{task}}.log",
    benchmark:
        f"{BENCH}/expert/{{task}}.tsv"
    wildcard_constraints:
        task=_alternatives(TRAINED_TASKS),
    params:
        product=lambda w: expert_dir(w.task),
        args=lambda w: wf.expert_args(PLAN, w.task),
        seed=EXPERT_SEED,
    threads: res(lambda w: config["experts"].get("resources"))("cpus")
    resources:
        mem_mb=res(lambda w: config["experts"].get("resources"))("mem_mb"),
        runtime=res(lambda w: config["experts"].get("resources"))("runtime"),
        gpu=res(lambda w: config["experts"].get("resources"))("gpu"),
    conda:
        ENV
    shell:
        EXPERT_SHELL


rule expert_scripted:
    output:
        f"{DONE}/experts/{{task}}.json",
    log:
        f"{LOGS}/expert/{{task}}.log",
    benchmark:
        f"{BENCH}/expert/{{task}}.tsv"
    wildcard_constraints:
        task=_alternatives(SCRIPTED_TASKS),
    params:
        product=lambda w: expert_dir(w.task),
        args=lambda w: wf.expert_args(PLAN, w.task),
        seed=EXPERT_SEED,
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
        gpu=0,
    conda:
        ENV
    shell:
        EXPERT_SHELL
