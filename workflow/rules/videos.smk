# Expert videos: the expert rolled out with the suite's render settings, one dataset per task
# shared by every video-imitation method and seed.


rule videos:
    input:
        f"{DONE}/experts/{{task}}.json",
    output:
        f"{DONE}/videos/{{task}}.json",
    log:
        f"{LOGS}/videos/{{task}}.log",
    benchmark:
        f"{BENCH}/videos/{{task}}.tsv"
    wildcard_constraints:
        task=_alternatives(set(PLAN.video_tasks()) - set(IMPORTED_TASKS)),
    params:
        product=lambda w: videos_dir(w.task),
        expert=lambda w: expert_dir(w.task),
        args=lambda w: wf.videos_args(PLAN, w.task),
        seed=EXPERT_SEED,
    threads: res(lambda w: config["videos"].get("resources"))("cpus")
    resources:
        mem_mb=res(lambda w: config["videos"].get("resources"))("mem_mb"),
        runtime=res(lambda w: config["videos"].get("resources"))("runtime"),
        gpu=res(lambda w: config["videos"].get("resources"))("gpu"),
    conda:
        ENV
    shell:
        "python -m bcvlr.workflow job --kind videos --product {params.product} --done {output} -- "
        "bcvlr collect-videos --task {wildcards.task} --expert {params.expert} "
        "--seed {params.seed} {params.args} --out {params.product} --no-progress > {log} 2>&1"


# LAPO's Procgen expert data instead of a PPO expert, when the config names it (videos.lapo_data)
rule videos_lapo:
    output:
        f"{DONE}/videos/{{task}}.json",
    log:
        f"{LOGS}/videos/{{task}}.log",
    benchmark:
        f"{BENCH}/videos/{{task}}.tsv"
    wildcard_constraints:
        task=_alternatives(IMPORTED_TASKS),
    params:
        product=lambda w: videos_dir(w.task),
        src=lambda w: PLAN.lapo_source(w.task),
    threads: 1
    resources:
        mem_mb=res(lambda w: config["videos"].get("resources"))("mem_mb"),
        runtime=res(lambda w: config["videos"].get("resources"))("runtime"),
        gpu=0,
    conda:
        ENV
    shell:
        "python -m bcvlr.workflow job --kind videos --product {params.product} --done {output} -- "
        "bcvlr import-videos --format lapo --src {params.src} --task {wildcards.task} "
        "--out {params.product} > {log} 2>&1"
