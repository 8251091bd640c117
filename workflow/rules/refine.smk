# Refinement stage: one job per landscape after the connection rounds. `lfl refine stage` runs rounds
# (plan from the database, searches in a pool of `jobs` forked workers, one write transaction per
# round) until the landscape saturates or a limit stops it (SCIENCE.md §6, lfl.explore.saturation).
# Every setting is a params trigger: a rerun with other settings records rounds of its own, a larger
# limit continues the rounds already recorded, the same settings run nothing new.
import json


def refine_settings(landscape):
    return LANDSCAPES[landscape].refine


def refine_settings_json(wildcards):
    return json.dumps(refine_settings(wildcards.landscape), sort_keys=True)


def refinement_done_path(landscape):
    return f"{R}/landscapes/{landscape}/refine/stage.json"


def connected_receipts(landscape):
    """The files after which the connection rounds are over (basin-hopping's, without any)."""
    return [connect_receipt(landscape)] if connect_rounds(landscape) else [minima_receipt(landscape)]


def final_receipts(landscape):
    """The files after which a landscape holds all its minima and transition states."""
    if refine_settings(landscape)["max_rounds"]:
        return [refinement_done_path(landscape)]
    return connected_receipts(landscape)


def refinement_targets():
    return [refinement_done_path(name) for name in LANDSCAPES if refine_settings(name)["max_rounds"]]


rule refine_landscape:
    # No db_writer slot: the stage holds the database only for each round's planning read and its
    # write transaction (SQLite: BEGIN IMMEDIATE with a long busy timeout).
    input:
        definition=definition_path("{landscape}"),
        draw=lambda wildcards: draw_path(LANDSCAPES[wildcards.landscape].draw.stem),
        before=lambda wildcards: connected_receipts(wildcards.landscape),
    output:
        refinement_done_path("{landscape}"),
    params:
        db=DB_ARGUMENT,
        settings=refine_settings_json,
        connect=connect_settings_json,
    threads: lambda wildcards: refine_settings(wildcards.landscape)["jobs"]
    log:
        f"{R}/logs/landscapes/{{landscape}}/refine.log",
    benchmark:
        f"{R}/benchmarks/landscapes/{{landscape}}/refine.tsv"
    shell:
        "{LFL} --threads 1 refine stage {params.db} --landscape {input.definition} --draw {input.draw} "
        "--settings {params.settings:q} --connect-settings {params.connect:q} --workers {threads} "
        "--receipt {output} 2> {log}"
