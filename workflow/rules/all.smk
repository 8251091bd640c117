# `snakemake --report report.html`: every table and figure with its caption (workflow/report/)
report: "../report/workflow.rst"

# The default target. Later stages name their outputs through functions evaluated when the DAG is
# built (input functions), so each stage's file defines its own targets.
rule all:
    input:
        [draw_path(stem) for stem in DRAWS],
        minima_receipts(),
        lambda wildcards: connection_targets(),
        lambda wildcards: refinement_targets(),
        lambda wildcards: analysis_targets(),
