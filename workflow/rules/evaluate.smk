# Checkpoints -> Parquet: attack sets (`evaluations`), kappa/PCA (`geometry`) and released
# checkpoints (config `published`, gair/evaluation/published.py).


rule evaluate:
    input:
        lambda wildcards: PATHS.done_file(wildcards.run),
    output:
        summary=PATHS.eval_file("{run}", "{ckpt}", "{evaluation}"),
        points=PATHS.eval_points("{run}", "{ckpt}", "{evaluation}"),
    params:
        args=lambda wildcards: PLAN.evaluate_args(wildcards.evaluation),
        checkpoint=lambda wildcards: PATHS.checkpoint(wildcards.run, wildcards.ckpt),
        gpu=ON_GPU,
        gair=GAIR,
    log:
        PATHS.log("evaluate", "{run}/{ckpt}-{evaluation}"),
    threads: 1
    resources:
        gpu=1,
        runtime=eval_minutes,
    conda:
        "../envs/gair.yaml"
    shell:
        "{params.gpu} {params.gair} evaluate --checkpoint {params.checkpoint} "
        "{params.args} --out {output.summary} --points > {log} 2>&1"


# The audit's gradient-masking checks (config audit.masking): the same command, with each
# point's result under each attack as a second output.
rule evaluate_masking:
    input:
        lambda wildcards: PATHS.done_file(wildcards.run),
    output:
        summary=PATHS.masking_file("{run}", "{ckpt}", "{evaluation}"),
        points=PATHS.masking_points("{run}", "{ckpt}", "{evaluation}"),
    params:
        args=lambda wildcards: PLAN.evaluate_args(wildcards.evaluation),
        checkpoint=lambda wildcards: PATHS.checkpoint(wildcards.run, wildcards.ckpt),
        gpu=ON_GPU,
        gair=GAIR,
    log:
        PATHS.log("evaluate_masking", "{run}/{ckpt}-{evaluation}"),
    threads: 1
    resources:
        gpu=1,
        runtime=eval_minutes,
    conda:
        "../envs/gair.yaml"
    shell:
        "{params.gpu} {params.gair} evaluate --checkpoint {params.checkpoint} "
        "{params.args} --out {output.summary} --points > {log} 2>&1"


rule geometry:
    input:
        lambda wildcards: PATHS.done_file(wildcards.run),
    output:
        PATHS.geometry_file("{run}", "{profile}"),
    params:
        args=lambda wildcards: PLAN.geometry_args(wildcards.run, wildcards.profile),
        gpu=ON_GPU,
        gair=GAIR,
    log:
        PATHS.log("geometry", "{run}/{profile}"),
    threads: 1
    resources:
        gpu=1,
        runtime=60,
    conda:
        "../envs/gair.yaml"
    shell:
        "{params.gpu} {params.gair} geometry {params.args} --out {output} > {log} 2>&1"


if not PLAN.preflight:

    rule published_evaluate:
        input:
            published_inputs,
        output:
            PATHS.published_eval("{model}"),
        params:
            job=lambda wildcards: PLAN.published_job(PLAN.published_name(wildcards.model)),
            gpu=ON_GPU,
            gair=GAIR,
        log:
            PATHS.log("published", "{model}"),
        threads: 1
        resources:
            gpu=1,
            runtime=600,
        conda:
            "../envs/gair.yaml"
        shell:
            "{params.gpu} {params.gair} published evaluate --name {params.job[name]:q} "
            "--entry {params.job[entry]:q} --attacks {params.job[attacks]} "
            "--budget {params.job[budget]:q} --model-dir {params.job[model_dir]:q} "
            "--data-root {params.job[data_root]:q} --samples-limit {params.job[samples_limit]} "
            "--out {output} > {log} 2>&1"
