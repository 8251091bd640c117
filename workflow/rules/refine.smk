# Refinement stage, in rounds after the connection rounds: plan (reads the database) -> searches
# (pure, in parallel workers) -> ingest (records the round and tests saturation), all in one job per
# round. The round is a checkpoint: the next round exists only when this one's receipt says "not
# saturated", so a saturated landscape runs no further process, and raising max_rounds continues an
# unsaturated one.
import json


def refine_settings(landscape):
    return LANDSCAPES[landscape].refine


def refine_settings_json(wildcards):
    # max_rounds is left out: raising it must not rerun the rounds already done (params trigger)
    settings = {k: v for k, v in refine_settings(wildcards.landscape).items() if k != "max_rounds"}
    return json.dumps(settings, sort_keys=True)


def refine_folder(landscape, round):
    return f"{R}/landscapes/{landscape}/refine/round{round}"


def refine_receipt(landscape, round):
    return f"{refine_folder(landscape, round)}/ingested.json"


def refinement_done_path(landscape, max_rounds=None):
    # the limit is in the name: a larger one is a new target, whose input walks on from the rounds done
    if max_rounds is None:
        max_rounds = refine_settings(landscape)["max_rounds"]
    return f"{R}/landscapes/{landscape}/refine/done_max{max_rounds}.json"


def connected_receipts(landscape):
    """The files after which the connection rounds are over (basin-hopping's, without any)."""
    rounds = connect_rounds(landscape)
    return [round_receipt(landscape, rounds - 1)] if rounds else minima_receipts_of(landscape)


def final_receipts(landscape):
    """The files after which a landscape holds all its minima and transition states."""
    if refine_settings(landscape)["max_rounds"]:
        return [refinement_done_path(landscape)]
    return connected_receipts(landscape)


def before_refinement_round(wildcards):
    round = int(wildcards.round)
    if round == 0:
        return connected_receipts(wildcards.landscape)
    return [refine_receipt(wildcards.landscape, round - 1)]


def refinement_rounds_run(wildcards):
    """Receipts up to the first saturated round or the limit, whichever comes first."""
    limit = int(wildcards.max_rounds)
    round = 0
    while True:
        receipt = checkpoints.refinement_round.get(landscape=wildcards.landscape, round=round).output[0]
        with open(receipt) as handle:
            saturated = json.load(handle)["saturated"]
        if saturated or round + 1 >= limit:
            return [refine_receipt(wildcards.landscape, r) for r in range(round + 1)]
        round += 1


def refinement_targets():
    return [refinement_done_path(name) for name in LANDSCAPES if refine_settings(name)["max_rounds"]]


checkpoint refinement_round:
    # One process per round (plan, `jobs` shares in forked workers, ingest): a round pays one start-up,
    # not jobs + 2. No db_writer slot: the round holds the database only for its plan's read and its
    # ingest's write transaction (SQLite: BEGIN IMMEDIATE with a long busy timeout).
    input:
        definition=definition_path("{landscape}"),
        draw=lambda wildcards: draw_path(LANDSCAPES[wildcards.landscape].draw.stem),
        before=before_refinement_round,
    output:
        refine_receipt("{landscape}", "{round}"),
    params:
        db=DB_ARGUMENT,
        settings=refine_settings_json,
        connect=connect_settings_json,
        folder=lambda wildcards: refine_folder(wildcards.landscape, wildcards.round),
    threads: lambda wildcards: refine_settings(wildcards.landscape)["jobs"]
    log:
        f"{R}/logs/landscapes/{{landscape}}/refine_round{{round}}.log",
    benchmark:
        f"{R}/benchmarks/landscapes/{{landscape}}/refine_round{{round}}.tsv"
    shell:
        "lfl --threads 1 refine round {params.db} --landscape {input.definition} --draw {input.draw} "
        "--settings {params.settings:q} --connect-settings {params.connect:q} --round {wildcards.round} "
        "--workers {threads} --folder {params.folder} --receipt {output} 2> {log}"


rule refinement_done:
    input:
        refinement_rounds_run,
    output:
        refinement_done_path("{landscape}", "{max_rounds}"),
    log:
        f"{R}/logs/landscapes/{{landscape}}/refine_done_max{{max_rounds}}.log",
    shell:
        "lfl refine done --max-rounds {wildcards.max_rounds} --out {output} {input} 2> {log}"
