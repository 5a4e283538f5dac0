# Checkpoints -> Parquet: attack sets (`evaluations`) and kappa/PCA (`geometry`).


rule evaluate:
    input:
        lambda wildcards: PLAN.done_file(wildcards.run),
    output:
        PLAN.eval_file("{run}", "{ckpt}", "{evaluation}"),
    params:
        args=lambda wildcards: PLAN.evaluate_args(wildcards.evaluation),
        checkpoint=lambda wildcards: f"{PLAN.run_dir(wildcards.run)}/{wildcards.ckpt}.pt",
        gpu=ON_GPU,
        gair=GAIR,
    log:
        f"{RESULTS}/logs/evaluate/{{run}}/{{ckpt}}-{{evaluation}}.log",
    threads: 1
    resources:
        gpu=1,
        runtime=eval_minutes,
    conda:
        "../envs/gair.yaml"
    shell:
        "{params.gpu} {params.gair} evaluate --checkpoint {params.checkpoint} "
        "{params.args} --out {output} > {log} 2>&1"


rule geometry:
    input:
        lambda wildcards: PLAN.done_file(wildcards.run),
    output:
        PLAN.geometry_file("{run}", "{profile}"),
    params:
        args=lambda wildcards: PLAN.geometry_args(wildcards.run, wildcards.profile),
        gpu=ON_GPU,
        gair=GAIR,
    log:
        f"{RESULTS}/logs/geometry/{{run}}/{{profile}}.log",
    threads: 1
    resources:
        gpu=1,
        runtime=60,
    conda:
        "../envs/gair.yaml"
    shell:
        "{params.gpu} {params.gair} geometry {params.args} --out {output} > {log} 2>&1"
