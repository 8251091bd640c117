# Data stage: pools (LJAT3 minimisations, digits, MNIST), then training draws with label noise.

wildcard_constraints:
    dataset="[A-Za-z][A-Za-z0-9_]*",


rule data_pool:
    output:
        pool_path("{dataset}"),
    params:
        arguments=pool_arguments,
    threads: THREADS
    log:
        f"{R}/logs/data/{{dataset}}.log",
    benchmark:
        f"{R}/benchmarks/data/{{dataset}}.tsv"
    shell:
        "{LFL} --threads {threads} data {params.arguments} --out {output} 2> {log}"


rule draw:
    input:
        lambda wildcards: pool_path(DRAWS[wildcards.stem].dataset),
    output:
        draw_path("{stem}"),
    params:
        arguments=draw_arguments,
    log:
        f"{R}/logs/draws/{{stem}}.log",
    benchmark:
        f"{R}/benchmarks/draws/{{stem}}.tsv"
    shell:
        "{LFL} --threads 1 data draw --pool {input} {params.arguments} --out {output} 2> {log}"
