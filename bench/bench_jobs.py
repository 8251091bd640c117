"""Jobs and cluster submissions per landscape of a study, now and at an earlier commit (Snakemake dry-runs).

A job is one process start on a workstation; a submission is one SLURM queue entry under
profiles/slurm, where a group job (several jobs in one submission) counts once. The reference is the
same study file dry-run in a git worktree of ``--before`` (default: the commit before connection and
refinement became one job per landscape), measured in the same run.

    python bench/bench_jobs.py [--study studies/label_noise_ljat3.yaml] [--before a94d0fd^]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def dry_run(repo: Path, study: Path, profile: str) -> tuple[dict[str, int], int]:
    """(jobs per rule, group jobs) of a dry-run of the study in a fresh working directory."""
    with tempfile.TemporaryDirectory() as work:
        done = subprocess.run([*SNAKEMAKE, "--snakefile", str(repo / "Snakefile"), "--directory", work,
                               "--configfile", str(study), "--profile", str(repo / "profiles" / profile),
                               "--dry-run"], capture_output=True, text=True, cwd=repo)
    if done.returncode:
        raise SystemExit(f"dry-run in {repo} failed: {done.stderr.strip()[-1500:]}")
    text = done.stdout + done.stderr
    stats = text[text.index("Job stats:"):]
    counts = {}
    for line in stats.splitlines()[3:]:
        match = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not match or match.group(1) == "total":
            break
        counts[match.group(1)] = int(match.group(2))
    return counts, len(re.findall(r"Group job \S+ \(jobs", text))


def submissions(counts: dict[str, int], groups: int, grouped_rules: set[str]) -> int:
    """Queue entries: every job but `all` (a local rule), grouped rules' jobs replaced by their groups."""
    return sum(n for rule, n in counts.items() if rule != "all" and rule not in grouped_rules) + groups


def grouped_rules(repo: Path) -> set[str]:
    config = (repo / "profiles" / "slurm" / "config.yaml").read_text()
    return set(re.findall(r"^\s*-\s*(\w+)=\w+\s*$", config, flags=re.M)) if "groups:" in config else set()


def report(label: str, repo: Path, study: Path, n_landscapes: int) -> tuple[int, int]:
    counts, _ = dry_run(repo, study, "default")
    slurm_counts, groups = dry_run(repo, study, "slurm")
    jobs = sum(n for rule, n in counts.items() if rule != "all")
    queued = submissions(slurm_counts, groups, grouped_rules(repo))
    per_rule = ", ".join(f"{rule} {n}" for rule, n in counts.items() if rule not in ("all", "total"))
    print(f"{label:<8} jobs {jobs:5d} ({jobs / n_landscapes:6.1f} per landscape), SLURM submissions {queued:5d} "
          f"({queued / n_landscapes:6.1f} per landscape)\n         {per_rule}")
    return jobs, queued


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, default=ROOT / "studies" / "label_noise_ljat3.yaml")
    parser.add_argument("--before", default="a94d0fd^", help="git ref of the reference")
    args = parser.parse_args()
    study = args.study.resolve()
    counts, _ = dry_run(ROOT, study, "default")
    n_landscapes = counts["define_landscape"]
    print(f"{study.name}: {n_landscapes} landscapes")
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), args.before], cwd=ROOT, check=True)
        try:
            before_jobs, before_queued = report(args.before, tree, study, n_landscapes)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
    jobs, queued = report("now", ROOT, study, n_landscapes)
    print(f"jobs cut {before_jobs / jobs:.1f}x, submissions cut {before_queued / queued:.1f}x")


if __name__ == "__main__":
    main()
