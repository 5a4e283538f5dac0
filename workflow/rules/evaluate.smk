# Checkpoints -> Parquet: attack sets (`evaluations`) and kappa/PCA (`geometry`).


rule evaluate:
    input:
        lambda wildcards: done_file(wildcards.run),
    output:
        eval_file("{run}", "{ckpt}", "{evaluation}"),
    params:
        args=evaluate_args,
        checkpoint=lambda wildcards: f"{run_dir(wildcards.run)}/{wildcards.ckpt}.pt",
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
        lambda wildcards: done_file(wildcards.run),
    output:
        geometry_file("{run}", "{profile}"),
    params:
        args=geometry_args,
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
