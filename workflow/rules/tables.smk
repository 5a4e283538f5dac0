# One rule per table target (table1 ... table3): CSV, Markdown and LaTeX, ours beside the paper's.
for _table in PLAN.tables:

    rule:
        name:
            _table
        input:
            PLAN.experiment_inputs(_table),
        output:
            csv=report(
                f"{RESULTS}/tables/{_table}.csv",
                caption=f"../report/{_table}.rst",
                category=category(_table),
            ),
            md=f"{RESULTS}/tables/{_table}.md",
            tex=f"{RESULTS}/tables/{_table}.tex",
        params:
            name=_table,
            manifest=PLAN.manifest_file(_table),
            manifest_digest=PLAN.digest(PLAN.manifest(_table)),
            note=PLAN.note(_table),
            prefix=lambda wildcards, output: output.csv[: -len(".csv")],
            gair=GAIR,
        log:
            f"{RESULTS}/logs/tables/{_table}.log",
        localrule: True
        conda:
            "../envs/gair.yaml"
        shell:
            "{params.gair} table {params.name} --manifest {params.manifest} "
            "--out {params.prefix} > {log} 2>&1"


rule tables:
    input:
        PLAN.outputs("tables"),
    localrule: True
