# Landscape stage: a definition per landscape, basin-hopping chunks per run, one ingest of every chunk
# (one step per chunk in exploration_rounds; chunks already recorded are skipped, so more steps or runs
# later ingest only the new chunks).
import json

wildcard_constraints:
    landscape="[A-Za-z0-9_.+-]+",
    run="[0-9]+",
    chunk="[0-9]+",
    round="[0-9]+",
    job="[0-9]+",
    max_rounds="[0-9]+",


rule define_landscape:
    output:
        definition_path("{landscape}"),
    params:
        definition=lambda wildcards: json.dumps(LANDSCAPES[wildcards.landscape].definition(), sort_keys=True),
    log:
        f"{R}/logs/landscapes/{{landscape}}/define.log",
    shell:
        "{LFL} explore define --json {params.definition:q} --out {output} 2> {log}"


rule basin_hopping:
    input:
        definition=definition_path("{landscape}"),
        draw=lambda wildcards: draw_path(LANDSCAPES[wildcards.landscape].draw.stem),
        previous=previous_chunk,
    output:
        chunk_path("{landscape}", "{run}", "{chunk}"),
    params:
        steps=lambda wildcards: LANDSCAPES[wildcards.landscape].schedule["chunk"],
        previous=lambda wildcards, input: f"--previous {input.previous}" if input.previous else "",
    threads: 1
    log:
        f"{R}/logs/landscapes/{{landscape}}/bh_run{{run}}_chunk{{chunk}}.log",
    benchmark:
        f"{R}/benchmarks/landscapes/{{landscape}}/bh_run{{run}}_chunk{{chunk}}.tsv"
    shell:
        "{LFL} --threads {threads} explore basin-hopping --landscape {input.definition} --draw {input.draw} "
        "--run {wildcards.run} --chunk {wildcards.chunk} --steps {params.steps} {params.previous} "
        "--out {output} 2> {log}"


rule ingest_minima:
    input:
        definition=definition_path("{landscape}"),
        draw=lambda wildcards: draw_path(LANDSCAPES[wildcards.landscape].draw.stem),
        chunks=lambda wildcards: [chunk_path(wildcards.landscape, run, chunk) for run, chunk in chunks_of(wildcards.landscape)],
    output:
        minima_receipt("{landscape}"),
    params:
        db=DB_ARGUMENT,
    resources:
        db_writer=1,
    log:
        f"{R}/logs/landscapes/{{landscape}}/ingest_minima.log",
    benchmark:
        f"{R}/benchmarks/landscapes/{{landscape}}/ingest_minima.tsv"
    shell:
        "{LFL} --threads 1 ingest minima {params.db} --landscape {input.definition} --draw {input.draw} "
        "--receipt {output} {input.chunks} 2> {log}"
