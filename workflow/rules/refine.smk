# Refinement stage, in rounds after the connection rounds: plan (reads the database) -> search jobs
# (pure, in parallel) -> ingest (the one writer; records the round and tests saturation). The ingest
# is a checkpoint: the next round exists only when this one's receipt says "not saturated", so a
# saturated landscape runs no further process, and raising max_rounds continues an unsaturated one.
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
        receipt = checkpoints.ingest_refinement.get(landscape=wildcards.landscape, round=round).output[0]
        with open(receipt) as handle:
            saturated = json.load(handle)["saturated"]
        if saturated or round + 1 >= limit:
            return [refine_receipt(wildcards.landscape, r) for r in range(round + 1)]
        round += 1


def refinement_targets():
    return [refinement_done_path(name) for name in LANDSCAPES if refine_settings(name)["max_rounds"]]


rule plan_refinement:
    input:
        definition=definition_path("{landscape}"),
        draw=lambda wildcards: draw_path(LANDSCAPES[wildcards.landscape].draw.stem),
        before=before_refinement_round,
    output:
        f"{R}/landscapes/{{landscape}}/refine/round{{round}}/tasks.npz",
    params:
        db=DB_ARGUMENT,
        settings=refine_settings_json,
        connect=connect_settings_json,
    log:
        f"{R}/logs/landscapes/{{landscape}}/refine_round{{round}}_plan.log",
    benchmark:
        f"{R}/benchmarks/landscapes/{{landscape}}/refine_round{{round}}_plan.tsv"
    shell:
        "lfl --threads 1 refine plan {params.db} --landscape {input.definition} --draw {input.draw} "
        "--settings {params.settings:q} --connect-settings {params.connect:q} --round {wildcards.round} "
        "--out {output} 2> {log}"


rule refine_tasks:
    input:
        definition=definition_path("{landscape}"),
        draw=lambda wildcards: draw_path(LANDSCAPES[wildcards.landscape].draw.stem),
        tasks=f"{R}/landscapes/{{landscape}}/refine/round{{round}}/tasks.npz",
    output:
        f"{R}/landscapes/{{landscape}}/refine/round{{round}}/job{{job}}.npz",
    params:
        settings=refine_settings_json,
        connect=connect_settings_json,
        jobs=lambda wildcards: refine_settings(wildcards.landscape)["jobs"],
    threads: 1
    log:
        f"{R}/logs/landscapes/{{landscape}}/refine_round{{round}}_job{{job}}.log",
    benchmark:
        f"{R}/benchmarks/landscapes/{{landscape}}/refine_round{{round}}_job{{job}}.tsv"
    shell:
        "lfl --threads {threads} refine run --landscape {input.definition} --draw {input.draw} "
        "--tasks {input.tasks} --settings {params.settings:q} --connect-settings {params.connect:q} "
        "--job {wildcards.job} --jobs {params.jobs} --out {output} 2> {log}"


checkpoint ingest_refinement:
    input:
        definition=definition_path("{landscape}"),
        draw=lambda wildcards: draw_path(LANDSCAPES[wildcards.landscape].draw.stem),
        tasks=f"{R}/landscapes/{{landscape}}/refine/round{{round}}/tasks.npz",
        results=lambda wildcards: [
            f"{refine_folder(wildcards.landscape, wildcards.round)}/job{job}.npz"
            for job in range(refine_settings(wildcards.landscape)["jobs"])
        ],
    output:
        refine_receipt("{landscape}", "{round}"),
    params:
        db=DB_ARGUMENT,
        settings=refine_settings_json,
    resources:
        db_writer=1,
    log:
        f"{R}/logs/landscapes/{{landscape}}/refine_round{{round}}_ingest.log",
    benchmark:
        f"{R}/benchmarks/landscapes/{{landscape}}/refine_round{{round}}_ingest.tsv"
    shell:
        "lfl --threads 1 ingest refinement {params.db} --landscape {input.definition} --draw {input.draw} "
        "--tasks {input.tasks} --settings {params.settings:q} --receipt {output} {input.results} 2> {log}"


rule refinement_done:
    input:
        refinement_rounds_run,
    output:
        refinement_done_path("{landscape}", "{max_rounds}"),
    log:
        f"{R}/logs/landscapes/{{landscape}}/refine_done_max{{max_rounds}}.log",
    shell:
        "lfl refine done --max-rounds {wildcards.max_rounds} --out {output} {input} 2> {log}"
