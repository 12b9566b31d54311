# bcvlr-bench: every method of the BCV-LR paper on its tasks, from experts to the report.
#
#   snakemake -n                                   # what the default config (config/config.yaml) runs
#   snakemake --profile profiles/default           # run it on this machine
#   snakemake --profile slurm --configfile config/paper.yaml   # the paper's grid on SLURM
#
# The flow per task: expert -> expert videos; per method, task and seed: a run (BCV-LR in its
# three stages); then aggregate + report. See docs/workflow.md.
import os

from snakemake.utils import min_version

min_version("9.0")


# The embedded default, unless --configfile names another: Snakemake would otherwise merge
# the two, and config/paper.yaml would inherit the default's reduced budgets.
if not workflow.overwrite_configfiles:

    configfile: os.path.join(workflow.basedir, "config/config.yaml")


include: "workflow/rules/common.smk"


wildcard_constraints:
    task=_alternatives(TASK_NAMES),
    seed=r"\d+",
    method=r"[a-z0-9][a-z0-9_.\-]*",


include: "workflow/rules/experts.smk"
include: "workflow/rules/videos.smk"
include: "workflow/rules/bcvlr.smk"
include: "workflow/rules/baselines.smk"
include: "workflow/rules/report.smk"


# Defined here, not in an included file: only the top-level Snakefile's rules can be the
# default target.
rule all:
    input:
        report_outputs(),
        P["aggregate"],
    default_target: True


# Before the first job (not in dry runs, not inside SLURM jobs): every method's settings are
# resolved for every task as the jobs will, so a typo in a `set:` entry fails now rather than
# hours later, after the experts and videos.
onstart:
    wf.deep_check(config)
