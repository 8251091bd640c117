# Connection stage, in rounds: plan (reads the database) -> connect jobs (pure, in parallel) ->
# ingest (the one writer) -> the next round plans from what this one found. A landscape that is
# already connected plans no pairs, so its remaining rounds cost next to nothing.
import json


def connect_settings_json(wildcards):
    return json.dumps(LANDSCAPES[wildcards.landscape].connect, sort_keys=True)


def connect_rounds(landscape):
    return LANDSCAPES[landscape].connect["rounds"]


def round_folder(landscape, round):
    return f"{R}/landscapes/{landscape}/connect/round{round}"


def round_receipt(landscape, round):
    return f"{round_folder(landscape, round)}/ingested.json"


def minima_receipts_of(landscape):
    return [receipt_path(landscape, run, chunk) for run, chunk in chunks_of(landscape)]


def connection_targets():
    return [round_receipt(name, connect_rounds(name) - 1) for name in LANDSCAPES if connect_rounds(name)]


def before_round(wildcards):
    """Round r plans from the database as round r-1 (or basin-hopping, for round 0) left it."""
    round = int(wildcards.round)
    if round == 0:
        return minima_receipts_of(wildcards.landscape)
    return [round_receipt(wildcards.landscape, round - 1)]


rule plan_connections:
    input:
        definition=definition_path("{landscape}"),
        draw=lambda wildcards: draw_path(LANDSCAPES[wildcards.landscape].draw.stem),
        before=before_round,
    output:
        f"{R}/landscapes/{{landscape}}/connect/round{{round}}/pairs.npz",
    params:
        db=DB_ARGUMENT,
        settings=connect_settings_json,
    log:
        f"{R}/logs/landscapes/{{landscape}}/connect_round{{round}}_plan.log",
    benchmark:
        f"{R}/benchmarks/landscapes/{{landscape}}/connect_round{{round}}_plan.tsv"
    shell:
        "lfl --threads 1 connect plan {params.db} --landscape {input.definition} --draw {input.draw} "
        "--settings {params.settings:q} --round {wildcards.round} --out {output} 2> {log}"


rule connect_pairs:
    input:
        definition=definition_path("{landscape}"),
        draw=lambda wildcards: draw_path(LANDSCAPES[wildcards.landscape].draw.stem),
        pairs=f"{R}/landscapes/{{landscape}}/connect/round{{round}}/pairs.npz",
    output:
        f"{R}/landscapes/{{landscape}}/connect/round{{round}}/job{{job}}.npz",
    params:
        settings=connect_settings_json,
        jobs=lambda wildcards: LANDSCAPES[wildcards.landscape].connect["jobs"],
    threads: 1
    log:
        f"{R}/logs/landscapes/{{landscape}}/connect_round{{round}}_job{{job}}.log",
    benchmark:
        f"{R}/benchmarks/landscapes/{{landscape}}/connect_round{{round}}_job{{job}}.tsv"
    shell:
        "lfl --threads {threads} connect run --landscape {input.definition} --draw {input.draw} "
        "--pairs {input.pairs} --settings {params.settings:q} --job {wildcards.job} --jobs {params.jobs} "
        "--out {output} 2> {log}"


rule ingest_connections:
    input:
        definition=definition_path("{landscape}"),
        draw=lambda wildcards: draw_path(LANDSCAPES[wildcards.landscape].draw.stem),
        results=lambda wildcards: [
            f"{round_folder(wildcards.landscape, wildcards.round)}/job{job}.npz"
            for job in range(LANDSCAPES[wildcards.landscape].connect["jobs"])
        ],
    output:
        round_receipt("{landscape}", "{round}"),
    params:
        db=DB_ARGUMENT,
    resources:
        db_writer=1,
    log:
        f"{R}/logs/landscapes/{{landscape}}/connect_round{{round}}_ingest.log",
    benchmark:
        f"{R}/benchmarks/landscapes/{{landscape}}/connect_round{{round}}_ingest.tsv"
    shell:
        "lfl --threads 1 ingest connections {params.db} --landscape {input.definition} --draw {input.draw} "
        "--receipt {output} {input.results} 2> {log}"
