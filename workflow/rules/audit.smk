# The robustness audit: every checkpoint of Tables 1 and 2 under PGD-20, PGD+, CW, LSA and
# AutoAttack, and how much of each method's PGD-20 gain over the baseline survives AutoAttack.
# It reads the tables' own evaluation files (audit.samples_limit 0), so no checkpoint is
# evaluated twice.
for _table, _baseline in config["audit"]["tables"].items():

    rule:
        name:
            f"audit_{_table}"
        input:
            # Config order (label, seed, checkpoint): the audit's rows follow it. The command
            # reads the same list from the meta file's keys.
            evals=list(PLAN.audit_meta(_table)),
        output:
            csv=report(
                f"{RESULTS}/tables/audit_{_table}.csv",
                caption=f"../report/audit_{_table}.rst",
                category="Audit",
            ),
            md=f"{RESULTS}/tables/audit_{_table}.md",
            tex=f"{RESULTS}/tables/audit_{_table}.tex",
            pdf=f"{FIGDIR}/audit_{_table}.pdf",
            png=report(
                f"{FIGDIR}/audit_{_table}.png",
                caption=f"../report/audit_{_table}.rst",
                category="Audit",
            ),
        params:
            meta=PLAN.manifest_file(f"audit_{_table}"),
            meta_digest=PLAN.digest(PLAN.audit_meta(_table)),
            baseline=_baseline,
            prefix=lambda wildcards, output: output.csv[: -len(".csv")],
            figure=lambda wildcards, output: output.pdf[: -len(".pdf")],
            gair=GAIR,
        log:
            f"{RESULTS}/logs/audit/{_table}.log",
        localrule: True
        conda:
            "../envs/gair.yaml"
        shell:
            "{params.gair} audit --meta {params.meta} "
            "--baseline {params.baseline:q} --out-prefix {params.prefix} "
            "--figure {params.figure} > {log} 2>&1"


rule audit:
    input:
        PLAN.outputs("audit"),
    localrule: True
