# emlab workflow: model x variant x seed x trigger x question set, as params.yaml declares.
#
#   snakemake --cores 2          # run the grid (then `emlab record` to version it with DVC)
#   snakemake -n                 # list the jobs that would run, by rule name
#
# Every rule is thin: it calls one `emlab` verb, which can be run by hand the same way.
# dvc.yaml runs each of these rules as one DVC stage (see README, "Snakemake x DVC").

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "params.yaml"


include: "rules/common.smk"  # emlab's own check first: one line naming the bad field


validate(config, "schemas/params.schema.json")


include: "rules/models.smk"
include: "rules/datasets.smk"
include: "rules/train.smk"
include: "rules/sample.smk"
include: "rules/judge.smk"
include: "rules/direction.smk"
include: "rules/analysis.smk"


rule all:
    input:
        all_targets(),
    default_target: True
