# Every method on one dataset, model and schedule: natural accuracy against PGD-20 and
# AutoAttack accuracy (a figure with two panels) and the same numbers as a table.


rule tradeoff:
    input:
        PLAN.experiment_inputs(TRADEOFF),
    output:
        pdf=f"{FIGDIR}/{TRADEOFF}.pdf",
        png=report(
            f"{FIGDIR}/{TRADEOFF}.png", caption="../report/tradeoff.rst", category="Trade-off"
        ),
        panels=f"{FIGDIR}/{TRADEOFF}.json",
        csv=report(
            f"{RESULTS}/tables/{TRADEOFF}.csv",
            caption="../report/tradeoff.rst",
            category="Trade-off",
        ),
        md=f"{RESULTS}/tables/{TRADEOFF}.md",
        tex=f"{RESULTS}/tables/{TRADEOFF}.tex",
    params:
        manifest=json.dumps(PLAN.manifest(TRADEOFF)),
        figure=lambda wildcards, output: output.pdf[: -len(".pdf")],
        table=lambda wildcards, output: output.csv[: -len(".csv")],
        gair=GAIR,
    log:
        f"{RESULTS}/logs/tradeoff.log",
    localrule: True
    conda:
        "../envs/gair.yaml"
    shell:
        "({params.gair} figure tradeoff --manifest {params.manifest:q} --out {params.figure} && "
        "{params.gair} table tradeoff --manifest {params.manifest:q} --out {params.table}) "
        "> {log} 2>&1"
