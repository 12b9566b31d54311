# Every method other than BCV-LR: one `bcvlr run --method M` per task and seed, in a rule of
# its own (named after the method), so that `snakemake -n` counts its jobs and a profile can
# give it resources or a group of its own. The methods are the config's entries (bcvlr/methods.py
# and `module:` ones): adding a method adds its rule. Video-imitation methods (`videos: true` in
# the config, or in the method's record) get the task's expert videos as input and --videos.
for _method in OTHER_METHODS:

    rule:
        name:
            re.sub(r"\W", "_", _method)
        input:
            unpack(_run_inputs),
        output:
            f"{DONE}/runs/{{method}}/{{task}}/seed{{seed}}.json",
        log:
            f"{LOGS}/run/{{method}}/{{task}}/seed{{seed}}.log",
        benchmark:
            f"{BENCH}/run/{{method}}/{{task}}/seed{{seed}}.tsv"
        wildcard_constraints:
            method=re.escape(_method),
        params:
            product=lambda w: run_dir(w.method, w.task, w.seed),
            videos=lambda w, input: (
                f"--videos {videos_dir(w.task)}" if "videos" in input.keys() else ""
            ),
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
