# One training run per resolved spec. The declared output is a marker written after
# `train` exits 0, never the run's own files: Snakemake deletes a job's outputs before it
# reruns it, and a rerun must resume from last.pt, not start over.


rule train:
    input:
        train_inputs,
    output:
        PLAN.done_file("{run}"),
    params:
        spec=lambda wildcards: PLAN.spec_json(wildcards.run),
        spec_file=lambda wildcards: f"{RESULTS}/specs/{wildcards.run}.json",
        out=lambda wildcards: PLAN.run_dir(wildcards.run),
        gpu=ON_GPU,
        gair=GAIR,
    log:
        f"{RESULTS}/logs/train/{{run}}.log",
    threads: 1
    resources:
        gpu=1,
        runtime=runtime_minutes,
    conda:
        "../envs/gair.yaml"
    shell:
        "mkdir -p {params.out} $(dirname {params.spec_file}) && "
        "printf '%s\\n' {params.spec:q} > {params.spec_file} && "
        "{params.gpu} {params.gair} train --spec {params.spec_file} --out {params.out} "
        "--progress lines > {log} 2>&1 && "
        "cp {params.out}/run.json {output}"
