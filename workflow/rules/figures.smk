# One rule per figure target, named after it (fig2 ... fig21). A figure reads Parquet only.
for _fig in PLAN.figures:

    rule:
        name:
            _fig
        input:
            PLAN.experiment_inputs(_fig),
        output:
            pdf=f"{FIGDIR}/{_fig}.pdf",
            png=report(
                f"{FIGDIR}/{_fig}.png",
                caption=f"../report/{_fig}.rst",
                category=category(_fig),
            ),
            panels=f"{FIGDIR}/{_fig}.json",
        params:
            name=_fig,
            manifest=PLAN.manifest_file(_fig),
            manifest_digest=PLAN.digest(PLAN.manifest(_fig)),
            note=PLAN.note(_fig),
            prefix=lambda wildcards, output: output.pdf[: -len(".pdf")],
            gair=GAIR,
        log:
            f"{RESULTS}/logs/figures/{_fig}.log",
        localrule: True
        conda:
            "../envs/gair.yaml"
        shell:
            "{params.gair} figure {params.name} --manifest {params.manifest} "
            "--out {params.prefix} > {log} 2>&1"


rule figures:
    input:
        PLAN.outputs("figures"),
    localrule: True
