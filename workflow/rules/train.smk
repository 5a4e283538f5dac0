# One training run per resolved spec (written to results/specs/<run>.json before the first
# job starts; the command names the file). The declared output is a marker written after
# `train` exits 0, never the run's own files: Snakemake deletes a job's outputs before it
# reruns it, and a rerun must resume from last.pt, not start over.


rule train:
    input:
        train_inputs,
    output:
        PATHS.done_file("{run}"),
    params:
        spec_file=lambda wildcards: PATHS.spec_file(wildcards.run),
        out=lambda wildcards: PATHS.run_dir(wildcards.run),
        record=lambda wildcards: PATHS.run_record(wildcards.run),
        preflight=f"--preflight {PLAN.preflight}" if PLAN.preflight else "",
        gpu=ON_GPU,
        gair=GAIR,
    log:
        PATHS.log("train", "{run}"),
    threads: 1
    resources:
        gpu=1,
        runtime=train_minutes,
    conda:
        "../envs/gair.yaml"
    shell:
        "{params.gpu} {params.gair} train --spec {params.spec_file} --out {params.out} "
        "--progress lines {params.preflight} > {log} 2>&1 && "
        "cp {params.record} {output}"
