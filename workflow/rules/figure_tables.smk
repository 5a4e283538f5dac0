# Targets that make a figure and a table from the same evaluations (the trade-off of every
# method): one job writes both.
for _name in PLAN.figure_tables:

    rule:
        name:
            _name
        input:
            PLAN.experiment_inputs(_name),
        output:
            pdf=f"{FIGDIR}/{_name}.pdf",
            png=report(
                f"{FIGDIR}/{_name}.png",
                caption=f"../report/{_name}.rst",
                category=category(_name),
            ),
            panels=f"{FIGDIR}/{_name}.json",
            csv=report(
                f"{RESULTS}/tables/{_name}.csv",
                caption=f"../report/{_name}.rst",
                category=category(_name),
            ),
            md=f"{RESULTS}/tables/{_name}.md",
            tex=f"{RESULTS}/tables/{_name}.tex",
        params:
            name=_name,
            manifest=PLAN.manifest_file(_name),
            manifest_digest=PLAN.digest(PLAN.manifest(_name)),
            note=PLAN.note(_name),
            figure=lambda wildcards, output: output.pdf[: -len(".pdf")],
            table=lambda wildcards, output: output.csv[: -len(".csv")],
            gair=GAIR,
        log:
            f"{RESULTS}/logs/{_name}.log",
        localrule: True
        conda:
            "../envs/gair.yaml"
        shell:
            "({params.gair} figure {params.name} --manifest {params.manifest} "
            "--out {params.figure} && "
            "{params.gair} table {params.name} --manifest {params.manifest} "
            "--out {params.table}) > {log} 2>&1"
