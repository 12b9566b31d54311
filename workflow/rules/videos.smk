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
