# Connection stage: one job per landscape after its basin-hopping minima are in. `lfl connect stage`
# runs up to `rounds` rounds (plan pairs from the database, search them in a pool of `jobs` forked
# workers, one write transaction per round) and stops early once a round plans nothing (connected).
import json


def connect_settings_json(wildcards):
    return json.dumps(LANDSCAPES[wildcards.landscape].connect, sort_keys=True)


def connect_rounds(landscape):
    return LANDSCAPES[landscape].connect["rounds"]


def connect_receipt(landscape):
    return f"{R}/landscapes/{landscape}/connect/stage.json"


def connection_targets():
    return [connect_receipt(name) for name in LANDSCAPES if connect_rounds(name)]


rule connect_landscape:
    # No db_writer slot: the stage holds the database only for each round's planning read and its
    # write transaction (SQLite: BEGIN IMMEDIATE with a long busy timeout).
    input:
        definition=definition_path("{landscape}"),
        draw=lambda wildcards: draw_path(LANDSCAPES[wildcards.landscape].draw.stem),
        minima=lambda wildcards: minima_receipt(wildcards.landscape),
    output:
        connect_receipt("{landscape}"),
    params:
        db=DB_ARGUMENT,
        settings=connect_settings_json,
    threads: lambda wildcards: LANDSCAPES[wildcards.landscape].connect["jobs"]
    log:
        f"{R}/logs/landscapes/{{landscape}}/connect.log",
    benchmark:
        f"{R}/benchmarks/landscapes/{{landscape}}/connect.tsv"
    shell:
        "{LFL} --threads 1 connect stage {params.db} --landscape {input.definition} --draw {input.draw} "
        "--settings {params.settings:q} --workers {threads} --receipt {output} 2> {log}"
