# Analysis stage: metrics of every minimum (a database writer, after the landscape's last ingest) ->
# a summary table per study, disconnectivity graphs per landscape, panels and box plots per study.
# Everything after the metrics reads the database, so it covers a landscape grown over many runs.
import re
import shlex

from lfl.analysis.figures import graph_stems, study_stems
from lfl.config import landscapes_of_study

wildcard_constraints:
    study="[A-Za-z][A-Za-z0-9_]*",


def study_landscapes(study):
    """The names of a study's landscapes, in the config's order (networks x n_data x noise x seed)."""
    return [spec.name for spec in landscapes_of_study(study, config["studies"][study])]


def metrics_receipt(landscape):
    return f"{R}/landscapes/{landscape}/analysis/metrics.json"


def graph_folder(landscape):
    return f"{R}/figures/landscapes/{landscape}"


def study_figure_folder(study):
    return f"{R}/figures/studies/{study}"


def table_paths(study):
    return [f"{R}/tables/{study}.csv", f"{R}/tables/{study}.md"]


def figure_files(folder, stems):
    return [f"{folder}/{stem}{suffix}" for stem in stems for suffix in (".png", ".svg")]


def reported_figures(folder, stems, category, subcategory):
    """figure_files, with each PNG in the Snakemake report under its caption (workflow/report/<figure>.rst)."""
    files = []
    for stem in stems:
        caption = re.sub(r"_(train|test)_auc$", "", stem)
        files.append(report(f"{folder}/{stem}.png", caption=f"../report/{caption}.rst", category=category,
                            subcategory=subcategory, labels={"figure": stem.replace("_", " ")}))
        files.append(f"{folder}/{stem}.svg")
    return files


def plot_arguments(analysis):
    lowest = analysis["lowest_n"]
    return (f"--levels {analysis['levels']} --min-colour-span {analysis['min_colour_span']!r}"
            + ("" if lowest is None else f" --lowest-n {lowest}"))


def analysed_studies():
    return [study for study in config["studies"] if study_landscapes(study)]


def analysis_targets():
    targets = []
    for study in analysed_studies():
        targets += table_paths(study) + figure_files(study_figure_folder(study), study_stems())
    for landscape in LANDSCAPES:
        targets += figure_files(graph_folder(landscape), graph_stems())
    return targets


rule analyse_metrics:
    input:
        definition=definition_path("{landscape}"),
        draw=lambda wildcards: draw_path(LANDSCAPES[wildcards.landscape].draw.stem),
        ingested=lambda wildcards: final_receipts(wildcards.landscape),
    output:
        receipt=metrics_receipt("{landscape}"),
        kinetics=f"{R}/landscapes/{{landscape}}/analysis/kinetics.json",
        rates=f"{R}/landscapes/{{landscape}}/analysis/rates.csv",
    params:
        db=DB_ARGUMENT,
        reference_class=lambda wildcards: LANDSCAPES[wildcards.landscape].analysis["reference_class"],
        temperature=lambda wildcards: LANDSCAPES[wildcards.landscape].analysis["temperature"],
    resources:
        db_writer=1,
    log:
        f"{R}/logs/landscapes/{{landscape}}/metrics.log",
    benchmark:
        f"{R}/benchmarks/landscapes/{{landscape}}/metrics.tsv"
    shell:
        "{LFL} --threads 1 analyse metrics {params.db} --landscape {input.definition} --draw {input.draw} "
        "--reference-class {params.reference_class} --receipt {output.receipt} 2> {log} && "
        "{LFL} --threads 1 analyse kinetics {params.db} --landscape {input.definition} "
        "--temperature {params.temperature} --lenient --out-summary {output.kinetics} --out-rates {output.rates} "
        "2>> {log}"


rule summary_table:
    input:
        lambda wildcards: [metrics_receipt(name) for name in study_landscapes(wildcards.study)],
    output:
        csv=report(f"{R}/tables/{{study}}.csv", caption="../report/summary_table.rst", category="Study {study}",
                   subcategory="Summary table", labels={"table": "{study}"}),
        md=f"{R}/tables/{{study}}.md",
    params:
        db=DB_ARGUMENT,
        reference_class=lambda wildcards: config["studies"][wildcards.study]["analysis"]["reference_class"],
        energy_only_tol=lambda wildcards: config["studies"][wildcards.study]["identity"]["energy_only_tol"],
        temperature=lambda wildcards: config["studies"][wildcards.study]["analysis"]["temperature"],
        landscapes=lambda wildcards: shlex.join(study_landscapes(wildcards.study)),
    log:
        f"{R}/logs/studies/{{study}}/summary.log",
    benchmark:
        f"{R}/benchmarks/studies/{{study}}/summary.tsv"
    shell:
        "{LFL} --threads 1 analyse summary {params.db} --study {wildcards.study} "
        "--reference-class {params.reference_class} --energy-only-tol {params.energy_only_tol} "
        "--temperature {params.temperature} --out-csv {output.csv} --out-md {output.md} "
        "{params.landscapes} 2> {log}"


rule disconnectivity_graphs:
    input:
        metrics_receipt("{landscape}"),
    output:
        reported_figures(graph_folder("{landscape}"), graph_stems(), "Landscapes", "{landscape}"),
    params:
        db=DB_ARGUMENT,
        plot=lambda wildcards: plot_arguments(LANDSCAPES[wildcards.landscape].analysis),
        folder=lambda wildcards: graph_folder(wildcards.landscape),
    log:
        f"{R}/logs/landscapes/{{landscape}}/graphs.log",
    benchmark:
        f"{R}/benchmarks/landscapes/{{landscape}}/graphs.tsv"
    shell:
        "{LFL} --threads 1 analyse graphs {params.db} --landscape {wildcards.landscape} {params.plot} "
        "--out-dir {params.folder} 2> {log}"


rule study_figures:
    input:
        lambda wildcards: [metrics_receipt(name) for name in study_landscapes(wildcards.study)],
    output:
        reported_figures(study_figure_folder("{study}"), study_stems(), "Study {study}", "Figures"),
    params:
        db=DB_ARGUMENT,
        plot=lambda wildcards: plot_arguments(config["studies"][wildcards.study]["analysis"]),
        folder=lambda wildcards: study_figure_folder(wildcards.study),
        landscapes=lambda wildcards: shlex.join(study_landscapes(wildcards.study)),
    log:
        f"{R}/logs/studies/{{study}}/figures.log",
    benchmark:
        f"{R}/benchmarks/studies/{{study}}/figures.tsv"
    shell:
        "{LFL} --threads 1 analyse figures {params.db} --study {wildcards.study} {params.plot} "
        "--out-dir {params.folder} {params.landscapes} 2> {log}"
