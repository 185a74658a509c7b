"""The Snakemake x DVC workflow: stage declarations, settings files, dvc.yaml, record/restore.

    emlab workflow settings            # every job's declared settings (.emlab/settings/**)
    emlab workflow dvc-yaml [--check]  # dvc.yaml, generated from the declarations
    emlab record                       # after `snakemake`: dvc.lock reflects the completed run
    emlab restore                      # after a checkout or clone: dvc pull, date the outputs

`stages` declares what each job reads; `settings` writes it per job and serves it to the
verbs; `dvc_yaml` derives dvc.yaml; `fingerprint` hashes the code a stage runs; `record`
glues the two tools (see its docstring for the measured facts behind it).
"""

from emlab.workflow.record import dvc_changes, record, restore, snakemake_pending

__all__ = ["dvc_changes", "record", "restore", "snakemake_pending"]
