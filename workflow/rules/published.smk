# Released checkpoints (config `published`) under our attacks, beside what their papers and
# RobustBench report: one evaluation job per model, one table and figure
# (gair/evaluation/published.py).


rule published_evaluate:
    input:
        published_inputs,
    output:
        f"{RESULTS}/published/{{model}}.parquet",
    params:
        job=lambda wildcards: PLAN.published_job(PLAN.published_name(wildcards.model)),
        gpu=ON_GPU,
        gair=GAIR,
    log:
        f"{RESULTS}/logs/published/{{model}}.log",
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


rule published:
    input:
        [PLAN.published_eval_file(name) for name in PLAN.published],
    output:
        PLAN.published_outputs(),
    params:
        manifest=PLAN.manifest_file("published"),
        manifest_digest=PLAN.digest(PLAN.published_manifest()),
        figure=lambda wildcards, output: output[0][: -len(".pdf")],
        table=lambda wildcards, output: output[3][: -len(".csv")],
        gair=GAIR,
    log:
        f"{RESULTS}/logs/published.log",
    localrule: True
    conda:
        "../envs/gair.yaml"
    shell:
        "{params.gair} published report --manifest {params.manifest} "
        "--figure {params.figure} --table {params.table} > {log} 2>&1"
